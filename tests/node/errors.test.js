'use strict';
// Every error class, each from a real situation against a real redis-server.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { kvorm } = require('./helpers/env');
const { startRedis, freePort } = require('./helpers/redis');

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

function schema(namespace, ageType = 'integer') {
  return {
    namespace,
    models: { User: { fields: { email: { type: 'string', unique: true }, age: { type: ageType, optional: true } } } },
  };
}

// Runs fn, expects it to reject with cls and the given code; returns the error for further checks.
async function expectError(promise, cls, code) {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err}`);
  assert.ok(err instanceof kvorm.KvormError && err instanceof Error);
  assert.equal(err.code, code);
  assert.equal(err.name, cls.name);
  assert.ok(err.message.length > 0);
  return err;
}

test('ValidationError: a value of the wrong type, with model, op and field', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('val') });
  const err = await expectError(db.User.create({ data: { email: 'a@x.io', age: 'thirty' } }), kvorm.ValidationError,
    'VALIDATION');
  assert.deepEqual([err.model, err.op, err.fields, err.status], ['User', 'create', ['age'], -1]);
  await db.close();
});

test('NotFoundError: update of a record that does not exist', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('nf') });
  const err = await expectError(db.User.update({ where: { id: 'nope' }, data: { age: 1 } }), kvorm.NotFoundError,
    'NOT_FOUND');
  assert.deepEqual(err.fields, []);
  await db.close();
});

test('UniqueViolationError: a unique value taken, naming the constraint fields', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('uv') });
  await db.User.create({ data: { email: 'a@x.io' } });
  const err = await expectError(db.User.create({ data: { email: 'a@x.io' } }), kvorm.UniqueViolationError,
    'UNIQUE_VIOLATION');
  assert.deepEqual(err.fields, ['email']);
  await db.close();
});

test('ConflictError: ifVersion does not match the record version', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('conf') });
  const rec = await db.User.create({ data: { email: 'a@x.io' } });
  await expectError(db.User.delete({ where: { id: rec.id }, ifVersion: 7 }), kvorm.ConflictError, 'CONFLICT');
  await db.close();
});

test('SchemaError: an invalid schema is rejected by open', async () => {
  const bad = { namespace: 'sch', models: { User: { fields: { age: { type: 'integr' } } } } };
  const err = await expectError(kvorm.open(redis.url(), { schema: bad }), kvorm.SchemaError, 'SCHEMA');
  assert.match(err.message, /integr/);
  await expectError(kvorm.open(redis.url(), { schema: '{not json' }), kvorm.SchemaError, 'SCHEMA');
});

test('SchemaMismatchError: the store was written with an incompatible schema', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('mis') });
  await db.close();
  const err = await expectError(kvorm.open(redis.url(), { schema: schema('mis', 'string') }),
    kvorm.SchemaMismatchError, 'SCHEMA_MISMATCH');
  assert.match(err.message, /age/);
});

test('BadRequestError: an unknown op, an unknown argument, an unknown model', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('br') });
  await expectError(db.User.frobnicate({}), kvorm.BadRequestError, 'BAD_REQUEST');
  await expectError(db.User.findUnique({ where: { email: 'a@x.io' }, orderBy: {} }), kvorm.BadRequestError,
    'BAD_REQUEST');
  await expectError(db.execute('Ghost', 'count'), kvorm.BadRequestError, 'BAD_REQUEST');
  assert.throws(() => db.Ghost, kvorm.BadRequestError);
  await db.close();
});

test('ConnectionError: nothing listens at the address', async () => {
  const port = await freePort();
  await expectError(kvorm.open(`redis://127.0.0.1:${port}/0`, { schema: schema('conn'), connectTimeoutMs: 1000 }),
    kvorm.ConnectionError, 'CONNECTION');
});

test('TimeoutError: the server does not answer within commandTimeoutMs', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('tmo'), commandTimeoutMs: 200 });
  await raw.call('CLIENT', 'PAUSE', '1500', 'ALL');
  const err = await expectError(db.User.count(), kvorm.TimeoutError, 'TIMEOUT');
  assert.equal(err.op, 'count');
  await new Promise((resolve) => setTimeout(resolve, 1600));
  assert.equal(await db.User.count(), 0, 'the pool reconnects after a timeout');
  await db.close();
});

test('UnsupportedError: count with a where', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('uns') });
  await expectError(db.User.count({ where: { email: 'a@x.io' } }), kvorm.UnsupportedError, 'UNSUPPORTED');
  await db.close();
});

test('InternalError: a stored value that does not decode', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('int') });
  const rec = await db.User.create({ data: { email: 'a@x.io', age: 3 } });
  await raw.hset(`int:{User}:r:${rec.id}`, 'age', Buffer.from([0xc1])); // 0xc1: never used in MessagePack
  await expectError(db.User.findUnique({ where: { id: rec.id } }), kvorm.InternalError, 'INTERNAL');
  await db.close();
});

test('MisuseError: an invalid URL, and any call after close', async () => {
  await expectError(kvorm.open('ftp://127.0.0.1/0', { schema: schema('mu') }), kvorm.MisuseError, 'MISUSE');
  const db = await kvorm.open(redis.url(), { schema: schema('mu') });
  await db.close();
  const err = await expectError(db.User.create({ data: { email: 'a@x.io' } }), kvorm.MisuseError, 'MISUSE');
  assert.deepEqual([err.model, err.op], ['User', 'create']);
});

test('wrong JavaScript arguments to open are TypeErrors', async () => {
  await assert.rejects(kvorm.open(42, { schema: schema('te') }), TypeError);
  await assert.rejects(kvorm.open(redis.url(), {}), TypeError);
  await assert.rejects(kvorm.open(redis.url(), { schema: schema('te'), poolSize: -1 }), TypeError);
  await assert.rejects(kvorm.open(redis.url(), { schema: schema('te'), integers: 'float' }), TypeError);
});
