'use strict';
// MessagePack in and out of the core, with @msgpack/msgpack: its extension codec is per instance, so kvorm owns
// the timestamp extension (-1) with full nanoseconds without changing how the application's own MessagePack code
// treats dates, and it reads and writes int64/uint64 as BigInt.
//
// Integers come back as a number when they are safe (|n| <= 2^53 - 1) and as a BigInt otherwise: never rounded.

const { Encoder, Decoder, ExtensionCodec } = require('@msgpack/msgpack');
const { Timestamp, epochNanosecondsOf } = require('./timestamp');

const TIMESTAMP_EXT = -1;
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

const extensionCodec = new ExtensionCodec();
extensionCodec.register({ type: TIMESTAMP_EXT, encode: encodeTimestamp, decode: decodeTimestamp });

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

// The request document, in bytes of its own (requests wait for the end of the tick before they go).
function encodeRequest(document) {
  return encoder.encode(document);
}

function decodeResponse(bytes) {
  return decoder.decode(bytes);
}

// The integer handling above relies on @msgpack/msgpack calling readU64/readI64 and encodeNumber; check it once
// at load, so a change in the library fails loudly instead of rounding.
(function selfTest() {
  const big = decodeResponse(Uint8Array.of(0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  const small = decodeResponse(Uint8Array.of(0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff));
  const written = Buffer.from(encodeRequest([2 ** 40, -0])).toString('hex');
  if (big !== 9223372036854775807n || small !== -2147483649 || written !== '92cf0000010000000000cb8000000000000000') {
    throw new Error('kvorm: @msgpack/msgpack handles 64-bit integers in an unexpected way');
  }
})();

module.exports = { encodeRequest, decodeResponse };
