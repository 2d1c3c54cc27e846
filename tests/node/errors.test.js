'use strict';
// Every error class, each from a real situation against a real redis-server.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { kvorm, Redis, repoRoot } = require('./helpers/env');
const { startRedis, freePort } = require('./helpers/redis');
const { startGate } = require('./helpers/gate');
const { errorFromDocument } = require(path.join(repoRoot, 'node', 'lib', 'errors'));

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

// Runs fn, expects it to reject with cls and the given code; returns the error for further checks. Every error
// says whether the call may succeed if made again (`retryable`, a boolean): false unless told otherwise (null:
// either, as the core judges).
async function expectError(promise, cls, code, { retryable = false } = {}) {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err}`);
  assert.ok(err instanceof kvorm.KvormError && err instanceof Error);
  assert.equal(err.code, code);
  assert.equal(err.name, cls.name);
  assert.ok(err.message.length > 0);
  if (retryable === null) assert.equal(typeof err.retryable, 'boolean');
  else assert.equal(err.retryable, retryable, `${code}: retryable`);
  return err;
}

test('ValidationError: a value of the wrong type, with model, op and field', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('val') });
  const err = await expectError(db.User.create({ data: { email: 'a@x.io', age: 'thirty' } }), kvorm.ValidationError,
    'VALIDATION');
  assert.deepEqual([err.model, err.op, err.fields, err.status], ['User', 'create', ['age'], -1]);
  await db.close();
});

test('ValidationError: an enum value that is not allowed, the message listing the allowed ones', async () => {
  const role = { type: 'enum', values: ['admin', 'member'] };
  const db = await kvorm.open(redis.url(), { schema: { namespace: 'venum', models: { User: { fields: { role } } } } });
  const err = await expectError(db.User.create({ data: { role: 'boss' } }), kvorm.ValidationError, 'VALIDATION');
  assert.deepEqual(err.fields, ['role']);
  assert.match(err.message, /^User\.role: "boss" is not one of the enum values .*admin.*member/);
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

test('SchemaError: a schema file that does not exist, in the core\'s words (as Python says it)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-schema-'));
  try {
    const missing = path.join(dir, 'nope.json');
    const err = await expectError(kvorm.open(redis.url(), { schema: missing }), kvorm.SchemaError, 'SCHEMA');
    assert.equal(err.message, `schema: cannot open ${missing}: No such file or directory`);
    assert.equal(err.status, -5);
    // A file the core reads is checked as the same text given inline would be.
    const file = path.join(dir, 'bad.json');
    const bad = JSON.stringify({ namespace: 'schf', models: { User: { fields: { age: { type: 'integr' } } } } });
    fs.writeFileSync(file, bad);
    const fromFile = await expectError(kvorm.open(redis.url(), { schema: file }), kvorm.SchemaError, 'SCHEMA');
    assert.match(fromFile.message, /integr/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
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

test('ConnectionError: nothing listens at the address, which open may try again', async () => {
  const port = await freePort();
  await expectError(kvorm.open(`redis://127.0.0.1:${port}/0`, { schema: schema('conn'), connectTimeoutMs: 1000 }),
    kvorm.ConnectionError, 'CONNECTION', { retryable: true });
});

test('ConnectionError: the connection dropped during a read, which may be retried', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('drop'), poolSize: 1 });
  const rec = await db.User.create({ data: { email: 'a@x.io' } });
  // Every client but this one: the db's one connection goes.
  assert.ok((await raw.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')) >= 1);
  const err = await expectError(db.User.findUnique({ where: { id: rec.id } }), kvorm.ConnectionError, 'CONNECTION',
    { retryable: true });
  assert.equal(err.op, 'findUnique');
  // And retrying it does succeed: the pool reconnects.
  assert.equal((await db.User.findUnique({ where: { id: rec.id } })).email, 'a@x.io');
  await db.close();
});

test('TimeoutError: the server does not answer within commandTimeoutMs', async () => {
  // The gate proxy holds the request for as long as the test wants (not a pause that ends on a clock: Redis 7.0
  // also holds back CLIENT UNPAUSE during CLIENT PAUSE ALL).
  const gate = await startGate(redis.port);
  try {
    const db = await kvorm.open(gate.url(), { schema: schema('tmo'), commandTimeoutMs: 200 });
    const { released } = await gate.hold(2, 60);
    const err = await expectError(db.User.count(), kvorm.TimeoutError, 'TIMEOUT', { retryable: null });
    assert.equal(err.op, 'count');
    // The core dropped the timed-out connection (so the gate holds nothing now): two other connections sending
    // through the gate open it again, and the same db, its pool reconnected, answers.
    const others = [0, 1].map(() => new Redis({ port: gate.port, host: '127.0.0.1' }));
    assert.deepEqual(await Promise.all(others.map((client) => client.ping())), ['PONG', 'PONG']);
    for (const client of others) client.disconnect();
    assert.equal(await released, 2);
    assert.equal(await db.User.count(), 0, 'the pool reconnects after a timeout');
    await db.close();
  } finally {
    await gate.stop();
  }
});

test('UnavailableError: Redis refuses writes when out of memory; nothing is written, and a retry later works',
  async () => {
    const own = await startRedis(); // CONFIG SET maxmemory on a server of this test's own
    const admin = own.client();
    try {
      const db = await kvorm.open(own.url(), { schema: schema('oom') });
      const ann = await db.User.create({ data: { email: 'ann@x.io' } });
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      const err = await expectError(db.User.create({ data: { email: 'bob@x.io' } }), kvorm.UnavailableError,
        'UNAVAILABLE', { retryable: true });
      assert.equal(err.status, -13);
      assert.equal(err.op, 'create');
      assert.equal((await db.User.findUnique({ where: { id: ann.id } })).email, 'ann@x.io', 'reads still answer');
      await admin.config('SET', 'maxmemory', '0');
      assert.equal(await db.User.findUnique({ where: { email: 'bob@x.io' } }), null, 'nothing was written');
      assert.equal((await db.User.create({ data: { email: 'bob@x.io' } })).email, 'bob@x.io');
      assert.equal(await db.User.count(), 2);
      await db.close();
    } finally {
      admin.disconnect();
      await own.stop();
    }
  });

test('UnsupportedError: from its error document (no request of this core is unsupported)', () => {
  // count with a where, the last UNSUPPORTED request, is answered since the query engine.
  const err = errorFromDocument({ code: 'UNSUPPORTED', message: 'not on this engine', model: 'User', op: 'x' }, -10);
  assert.ok(err instanceof kvorm.UnsupportedError && err instanceof kvorm.KvormError);
  assert.deepEqual([err.code, err.status, err.op, err.retryable], ['UNSUPPORTED', -10, 'x', false]);
});

test('RefusedError: a query that would scan, with refuseScans', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('ref') });
  await db.User.create({ data: { email: 'a@x.io', age: 3 } });
  const err = await expectError(db.User.count({ where: { age: 3 }, refuseScans: true }), kvorm.RefusedError,
    'REFUSED');
  assert.deepEqual([err.model, err.status], ['User', -14]);
  assert.equal(await db.User.count({ where: { age: 3 } }), 1);
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
  await assert.rejects(kvorm.open(redis.url(), { schema: schema('te'), refuseScans: 'yes' }), TypeError);
});
