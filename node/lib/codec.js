'use strict';
// MessagePack in and out of the core, with @msgpack/msgpack: its extension codec is per instance, so kvorm owns
// the timestamp extension (-1) with full nanoseconds without changing how the application's own MessagePack code
// treats dates, and it reads and writes int64/uint64 as BigInt.
//
// Integers come back as a number when they are safe (|n| <= 2^53 - 1) and as a BigInt otherwise: never rounded
// (with the `integers: 'bigint'` option of open(), every integer as a BigInt).
//
// Responses are converted by MessagePack type, at any depth (records, arrays of records, aggregate and groupBy
// maps), with no schema: the timestamp extension (-1) -> Date or Timestamp, the decimal extension (1, its payload
// the normalized decimal text) -> that text as a string, bin -> Buffer.

const { Encoder, Decoder, ExtensionCodec, ExtData } = require('@msgpack/msgpack');
const { Timestamp, epochNanosecondsOf } = require('./timestamp');

const TIMESTAMP_EXT = -1;
const DECIMAL_EXT = 1; // the core's KV_EXT_DECIMAL
const NS_PER_SECOND = 1000000000n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const SAFE_MIN = -SAFE_MAX;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

// The timestamp extension of the MessagePack spec, in its shortest form (32, 64 or 96 bits).
function encodeTimestamp(value) {
  if (!(value instanceof Date)) return null;
  if (Number.isNaN(value.getTime())) throw new RangeError('kvorm: an invalid Date cannot be stored');
  const ns = epochNanosecondsOf(value);
  let seconds = ns / NS_PER_SECOND;
  let nanos = ns % NS_PER_SECOND;
  if (nanos < 0n) {
    nanos += NS_PER_SECOND;
    seconds -= 1n;
  }
  if (seconds >= 0n && seconds < 1n << 34n) {
    if (nanos === 0n && seconds < 1n << 32n) {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, Number(seconds));
      return out;
    }
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, (nanos << 34n) | seconds);
    return out;
  }
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setUint32(0, Number(nanos));
  view.setBigInt64(4, seconds);
  return out;
}

// A Date when the value is whole milliseconds, else a Timestamp carrying the exact nanoseconds.
function decodeTimestamp(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let seconds;
  let nanos;
  if (data.byteLength === 4) {
    seconds = view.getUint32(0);
    nanos = 0;
  } else if (data.byteLength === 8) {
    const high = view.getUint32(0);
    nanos = high >>> 2;
    seconds = (high & 3) * 0x100000000 + view.getUint32(4);
  } else if (data.byteLength === 12) {
    nanos = view.getUint32(0);
    seconds = Number(view.getBigInt64(4)); // years 0001-9999: far inside the safe range
  } else {
    throw new RangeError(`kvorm: a timestamp extension of ${data.byteLength} bytes`);
  }
  if (nanos % 1000000 === 0) return new Date(seconds * 1000 + nanos / 1000000);
  return new Timestamp(BigInt(seconds) * NS_PER_SECOND + BigInt(nanos));
}

function bufferOf(data) {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const extensionCodec = new ExtensionCodec();
extensionCodec.register({ type: TIMESTAMP_EXT, encode: encodeTimestamp, decode: decodeTimestamp });
// Decimals are strings in JavaScript: nothing is encoded as this extension (a string is a decimal's text for the
// core), but an ExtData(1, text bytes) given by the caller goes as it is.
extensionCodec.register({ type: DECIMAL_EXT, encode: () => null, decode: (data) => bufferOf(data).toString('utf8') });

// int64/uint64 as a number when safe, else a BigInt. The core writes integers in their shortest form, so only
// values outside int32 take these paths.
class SafeIntegerDecoder extends Decoder {
  readU64() {
    const value = this.readU64AsBigInt();
    return value <= SAFE_MAX ? Number(value) : value;
  }

  readI64() {
    const value = this.readI64AsBigInt();
    return value >= SAFE_MIN && value <= SAFE_MAX ? Number(value) : value;
  }

  // bin as a Buffer (a view of the response, no copy); extension payloads go through here too.
  decodeBinary(byteLength, headOffset) {
    return bufferOf(super.decodeBinary(byteLength, headOffset));
  }
}

// A float whose value is an integer (1.0, -0.0), boxed while a response is decoded for `integers: 'bigint'`, so
// that the walk below can tell it from an integer: every other number that is an integer came as one.
class IntegralFloat {
  constructor(value) {
    this.value = value;
  }
}

// For `integers: 'bigint'`: small integers are decoded inline by @msgpack/msgpack (no method to override), so the
// floats are marked instead, and every integer is made a BigInt afterwards, at any depth.
class BigIntDecoder extends SafeIntegerDecoder {
  readU64() {
    return this.readU64AsBigInt();
  }

  readI64() {
    return this.readI64AsBigInt();
  }

  readF32() {
    const value = super.readF32();
    return Number.isInteger(value) ? new IntegralFloat(value) : value;
  }

  readF64() {
    const value = super.readF64();
    return Number.isInteger(value) ? new IntegralFloat(value) : value;
  }
}

function integersAsBigInt(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof IntegralFloat) return value.value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = integersAsBigInt(value[i]);
    return value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value; // Date, Timestamp, Buffer, ExtData
  for (const key of Object.keys(value)) value[key] = integersAsBigInt(value[key]);
  return value;
}

// With useBigInt64 a BigInt is written as int64/uint64, but a safe integer number outside int32 as float64 and
// -0 as the integer 0: both are fixed here, so integers stay integers and -0.0 keeps its sign.
class IntegerKeepingEncoder extends Encoder {
  encodeNumber(value) {
    if (Object.is(value, -0)) this.encodeNumberAsFloat(value);
    else if (Number.isSafeInteger(value) && (value < INT32_MIN || value > INT32_MAX)) this.encodeBigInt64(BigInt(value));
    else super.encodeNumber(value);
  }
}

// undefined means "not given", as in Prisma.
const encoder = new IntegerKeepingEncoder({ extensionCodec, useBigInt64: true, ignoreUndefined: true });
const decoder = new SafeIntegerDecoder({ extensionCodec });
const bigIntDecoder = new BigIntDecoder({ extensionCodec });

// The request document, in bytes of its own (requests wait for the end of the tick before they go).
function encodeRequest(document) {
  return encoder.encode(document);
}

// integers: 'auto' (a number when safe, else a BigInt) or 'bigint' (always a BigInt).
function decodeResponse(bytes, integers = 'auto') {
  if (integers === 'bigint') return integersAsBigInt(bigIntDecoder.decode(bytes));
  return decoder.decode(bytes);
}

// The integer handling above relies on @msgpack/msgpack calling readU64/readI64 and encodeNumber; check it once
// at load, so a change in the library fails loudly instead of rounding.
(function selfTest() {
  const big = decodeResponse(Uint8Array.of(0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  const small = decodeResponse(Uint8Array.of(0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff));
  const written = Buffer.from(encodeRequest([2 ** 40, -0])).toString('hex');
  const all = decodeResponse(Uint8Array.of(0x93, 0x05, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc4, 0x01, 0x61), 'bigint');
  if (big !== 9223372036854775807n || small !== -2147483649 || written !== '92cf0000010000000000cb8000000000000000'
    || all[0] !== 5n || !Object.is(all[1], 1) || !Buffer.isBuffer(all[2])) {
    throw new Error('kvorm: @msgpack/msgpack handles 64-bit integers in an unexpected way');
  }
})();

module.exports = { encodeRequest, decodeResponse, ExtData, DECIMAL_EXT };
