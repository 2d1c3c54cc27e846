'use strict';
// Every field type, from JavaScript values to the stored bytes and back: the vectors of tests/vectors/values.json
// written through the package must be stored exactly as stored_hex (read raw from the record hash) and read back
// as the JavaScript value of the vector. The invalid vectors, and JavaScript values that cannot be exact
// (2^53 + 1 as a number, NaN, BigInt beyond int64), are errors. Every test runs on every engine (engineTest);
// the stored bytes are read raw from the Redis record hash, so that one check is made on Redis only
// (checkStored): on LMDB the values are checked as they are read back.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { kvorm, vectorsPath } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');
const { engineTests } = require('./helpers/engines');

// JSON.parse rounds integers beyond 2^53: quote long integer literals first and revive them as BigInt.
function parseVectors(text) {
  const quoted = text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"__bigint__$2"');
  return JSON.parse(quoted, (key, value) =>
    typeof value === 'string' && value.startsWith('__bigint__') ? BigInt(value.slice(10)) : value);
}

const vectors = parseVectors(fs.readFileSync(vectorsPath, 'utf8'));
const FIELD = { string: 's', integer: 'i', float: 'f', boolean: 'b', datetime: 'dt', decimal: 'dec', enum: 'e',
  json: 'j', bytes: 'by' };

const schema = {
  namespace: 'vec',
  models: {
    V: {
      fields: Object.fromEntries(Object.entries(FIELD).map(([type, field]) =>
        [field, type === 'enum' ? { type, values: vectors.enumValues, optional: true } : { type, optional: true }])),
    },
  },
};

let redis;
let raw;
before(async () => {
  redis = await startRedis();
  raw = redis.client();
});
after(async () => {
  raw?.disconnect();
  await redis?.stop();
});
const engineTest = engineTests(() => redis);

// A test on a db of the schema above, opened on the test's store (on Redis: the session's server, namespace vec)
// and closed after, whatever happens.
function vTest(name, fn) {
  engineTest(name, async (store) => {
    const db = await kvorm.open(store.url(), { schema });
    try {
      await fn(db, store);
    } finally {
      await db.close();
    }
  });
}

// RFC 3339 text (UTC, 9 fraction digits when not zero) of a Date or Timestamp, as the core's JSON output writes it.
function rfc3339(date) {
  const ns = date instanceof kvorm.Timestamp ? date.epochNanoseconds : BigInt(date.getTime()) * 1000000n;
  const frac = Number(((ns % 1000000000n) + 1000000000n) % 1000000000n);
  const seconds = new Date(Number((ns - BigInt(frac)) / 1000000n)).toISOString().slice(0, 19);
  return frac === 0 ? `${seconds}Z` : `${seconds}.${String(frac).padStart(9, '0')}Z`;
}

// The vector's input as a JavaScript value: bytes are base64 in the vectors, a Uint8Array here.
function jsInput(vector) {
  return vector.type === 'bytes' ? Uint8Array.from(Buffer.from(vector.input, 'base64')) : vector.input;
}

async function storedHex(id, field) {
  const bytes = await raw.hgetBuffer(`vec:{V}:r:${id}`, field);
  return bytes === null ? null : bytes.toString('hex');
}

// The stored bytes of a field (null: not stored), on Redis only: they are read raw from the record hash.
async function checkStored(store, id, field, hex, label) {
  if (store.engine === 'redis') assert.equal(await storedHex(id, field), hex, label);
}

function checkReadBack(vector, value) {
  const expected = 'output' in vector ? vector.output : vector.input;
  switch (vector.type) {
    case 'datetime':
      assert.ok(value instanceof Date);
      assert.equal(rfc3339(value), expected);
      break;
    case 'bytes':
      assert.ok(value instanceof Uint8Array);
      assert.equal(Buffer.from(value).toString('base64'), expected);
      break;
    case 'integer':
      // A number when safe, a BigInt beyond: never rounded.
      assert.equal(typeof value, typeof expected === 'bigint' && (expected > 2n ** 53n - 1n ||
        expected < -(2n ** 53n - 1n)) ? 'bigint' : 'number');
      assert.equal(BigInt(value), BigInt(expected));
      break;
    case 'float':
      assert.ok(Object.is(value, typeof expected === 'bigint' ? Number(expected) : expected), `${value}`);
      break;
    case 'json':
      assert.deepEqual(value, typeof expected === 'bigint' ? expected : expected);
      break;
    default:
      assert.deepEqual(value, expected);
  }
}

// A JSON real with an integral value (1.0) is a plain number in JavaScript, which goes as an integer: the one
// vector JavaScript cannot express.
const expressible = (v) => !(v.type === 'json' && v.stored_hex.startsWith('cb') && Number.isInteger(v.input));

vTest('every vector written from JavaScript is stored as its canonical bytes and read back', async (db, store) => {
  let checked = 0;
  for (const vector of vectors.values.filter(expressible)) {
    const field = FIELD[vector.type];
    const label = `${vector.type} ${JSON.stringify(vector.input, (k, v) => (typeof v === 'bigint' ? `${v}n` : v))
      .slice(0, 60)}`;
    const created = await db.V.create({ data: { [field]: jsInput(vector) } });
    await checkStored(store, created.id, field, vector.stored_hex, label);
    checkReadBack(vector, created[field]);
    const found = await db.V.findUnique({ where: { id: created.id } });
    checkReadBack(vector, found[field]);
    if (vector.type === 'datetime') {
      // The Date (or Timestamp) read back, written again, is stored the same: nothing lost on the way.
      const again = await db.V.create({ data: { dt: found.dt } });
      await checkStored(store, again.id, 'dt', vector.stored_hex, `${label} written back`);
      checkReadBack(vector, again.dt);
    }
    checked++;
  }
  assert.ok(checked >= vectors.values.length - 1, `${checked} vectors checked`);
});

vTest('every invalid vector is a ValidationError naming the field', async (db) => {
  for (const vector of vectors.invalid) {
    const field = FIELD[vector.type];
    const err = await db.V.create({ data: { [field]: vector.input } }).catch((e) => e);
    assert.ok(err instanceof kvorm.ValidationError, `${vector.type} ${String(vector.input).slice(0, 40)}: ${err}`);
    assert.equal(err.code, vector.code);
    assert.deepEqual(err.fields, [field]);
    assert.equal(err.model, 'V');
  }
});

vTest('a Date is written with millisecond precision and read back as a plain Date', async (db, store) => {
  const when = new Date('2024-05-06T07:08:09.123Z');
  const rec = await db.V.create({ data: { dt: when } });
  assert.equal(Object.getPrototypeOf(rec.dt), Date.prototype);
  assert.equal(rec.dt.getTime(), when.getTime());
  await checkStored(store, rec.id, 'dt', 'd7ff1d535300663881d9');
});

vTest('a sub-millisecond datetime comes back as a Timestamp: a Date with the exact nanoseconds', async (db) => {
  const rec = await db.V.create({ data: { dt: '2024-05-06T07:08:09.123456789Z' } });
  assert.ok(rec.dt instanceof Date && rec.dt instanceof kvorm.Timestamp);
  assert.equal(rec.dt.toISOString(), '2024-05-06T07:08:09.123Z'); // the Date part is rounded down
  assert.equal(rec.dt.epochNanoseconds, 1714979289123456789n);
  assert.equal(rec.dt.toISOStringNs(), '2024-05-06T07:08:09.123456789Z');
  const before1970 = kvorm.Timestamp.fromEpochNanoseconds(-1n);
  const back = (await db.V.create({ data: { dt: before1970 } })).dt;
  assert.equal(back.epochNanoseconds, -1n);
  assert.equal(back.toISOString(), '1969-12-31T23:59:59.999Z');
});

vTest('integers: numbers when safe, BigInt beyond 2^53, BigInt accepted as input', async (db, store) => {
  const safe = await db.V.create({ data: { i: 2 ** 40 } });
  assert.equal(safe.i, 2 ** 40);
  await checkStored(store, safe.id, 'i', 'cf0000010000000000');
  const big = await db.V.create({ data: { i: 2n ** 53n + 1n } });
  assert.equal(big.i, 2n ** 53n + 1n);
  const small = await db.V.create({ data: { i: 5n } });
  assert.equal(small.i, 5);
});

vTest("integers: 'bigint' returns every integer of a result as a BigInt, by type", async (db, store) => {
  const bigDb = await kvorm.open(store.url(), { schema, integers: 'bigint' });
  const rec = await bigDb.V.create({ data: { i: 7, f: 1, j: { n: 1, x: 1.5, a: [2] } }, select: { i: true, f: true,
    j: true, $version: true } });
  assert.equal(rec.i, 7n);
  assert.ok(Object.is(rec.f, 1), 'a float that is integral stays a number');
  assert.deepEqual(rec.j, { n: 1n, x: 1.5, a: [2n] }); // json integers too: the response says they are integers
  assert.equal(rec.$version, 1n);
  assert.equal(typeof (await bigDb.V.count()), 'bigint');
  await bigDb.close();
});

vTest('a number that cannot be an exact integer is a ValidationError before it is sent', async (db) => {
  for (const bad of [2 ** 53 + 2, -(2 ** 60), 1.5, NaN, Infinity]) {
    const err = await db.V.create({ data: { i: bad } }).catch((e) => e);
    assert.ok(err instanceof kvorm.ValidationError, `${bad}: ${err}`);
    assert.deepEqual(err.fields, ['i']);
    assert.match(err.message, /V\.i/);
  }
  const beyond = await db.V.create({ data: { i: 2n ** 63n } }).catch((e) => e);
  assert.ok(beyond instanceof kvorm.ValidationError, String(beyond));
  const whereBad = await db.V.findUnique({ where: { id: 'x' }, select: { i: true } });
  assert.equal(whereBad, null);
});

vTest('NaN and infinities are rejected for float fields', async (db) => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    await assert.rejects(db.V.create({ data: { f: bad } }), kvorm.ValidationError);
  }
});

vTest('wrong types and unknown fields are ValidationErrors, unknown arguments BadRequestErrors', async (db) => {
  await assert.rejects(db.V.create({ data: { s: 1 } }), kvorm.ValidationError);
  await assert.rejects(db.V.create({ data: { by: 'not bytes' } }), kvorm.ValidationError);
  await assert.rejects(db.V.create({ data: { dt: new Date('nonsense') } }), kvorm.ValidationError);
  const unknown = await db.V.create({ data: { nope: 1 } }).catch((e) => e);
  assert.ok(unknown instanceof kvorm.ValidationError, String(unknown));
  await assert.rejects(db.V.create({ data: { s: 'a' }, bogus: true }), kvorm.BadRequestError);
  await assert.rejects(db.V.create({ data: 'not a map' }), kvorm.BadRequestError);
  await assert.rejects(db.V.create(), kvorm.BadRequestError);
});

vTest('undefined means "not given"; null clears an optional field', async (db, store) => {
  const rec = await db.V.create({ data: { s: 'x', i: undefined } });
  assert.equal(rec.i, null);
  await checkStored(store, rec.id, 'i', null);
  assert.equal((await db.V.findUnique({ where: { id: rec.id } })).i, null);
  const cleared = await db.V.update({ where: { id: rec.id }, data: { s: null } });
  assert.equal(cleared.s, null);
});

vTest('json: a Map, a Set, a class instance, a function, a symbol are ValidationErrors naming the field',
  async (db) => {
    class Money {
      constructor(cents) {
        this.cents = cents;
      }
    }
    const before = await db.V.count();
    const cases = [
      [new Map([['a', 1]]), /V\.j: cannot send a Map/],
      [new Set([1, 2]), /V\.j: cannot send a Set/],
      [new Money(5), /V\.j: cannot send a Money/],
      [{ nested: [new Set([1])] }, /V\.j: cannot send a Set/],
      [() => 1, /V\.j: cannot send a function/],
      [Symbol('s'), /V\.j: cannot send a symbol/],
      [Object(1), /V\.j: cannot send a Number/],
      [Promise.resolve({}), /V\.j: cannot send a Promise/],
      // The core's own refusals: json holds no bytes and no datetimes.
      [Buffer.from('ab'), /V\.j: json values hold no bytes/],
      [new Date(0), /V\.j: json values hold no timestamp/],
    ];
    for (const [value, message] of cases) {
      for (const write of [() => db.V.create({ data: { j: value } }),
        () => db.V.upsert({ where: { id: 'nope' }, create: { j: value }, update: { j: value } })]) {
        const err = await write().catch((e) => e);
        assert.ok(err instanceof kvorm.ValidationError, `${String(message)}: ${err}`);
        assert.equal(err.code, 'VALIDATION');
        assert.equal(err.model, 'V');
        assert.deepEqual(err.fields, ['j']);
        assert.match(err.message, message);
        assert.equal(err.retryable, false);
      }
    }
    // The same values in another field are refused the same way, and nothing was written.
    const other = await db.V.create({ data: { s: new Map() } }).catch((e) => e);
    assert.ok(other instanceof kvorm.ValidationError && /V\.s: cannot send a Map/.test(other.message), String(other));
    assert.equal(await db.V.count(), before);
    // Plain objects (also without a prototype), arrays, and BigInts in int64 still go.
    const bare = Object.assign(Object.create(null), { c: 'd' });
    const ok = await db.V.create({ data: { j: { a: [1, 2n ** 60n, null], b: bare } } });
    assert.deepEqual(ok.j, { a: [1, 2n ** 60n, null], b: { c: 'd' } });
  });
