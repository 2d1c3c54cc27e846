'use strict';
// Every error class, each from a real situation against a real store. The engine-independent ones run on every
// engine (engineTest: once on Redis, once on LMDB); the situations only Redis has (nothing listening at a port, a
// dropped connection, a server that does not answer, a server out of memory, a raw key changed) are plain `test`s
// named [redis only]; the situations only an embedded store has (a path that is no LMDB environment, readonly=1,
// a full map) are named [lmdb only].

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { kvorm, Redis, repoRoot } = require('./helpers/env');
const { startRedis, freePort } = require('./helpers/redis');
const { startGate } = require('./helpers/gate');
const { engineTests, tempDir } = require('./helpers/engines');
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
const engineTest = engineTests(() => redis);

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

engineTest('ValidationError: a value of the wrong type, with model, op and field', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('val') });
  const err = await expectError(db.User.create({ data: { email: 'a@x.io', age: 'thirty' } }), kvorm.ValidationError,
    'VALIDATION');
  assert.deepEqual([err.model, err.op, err.fields, err.status], ['User', 'create', ['age'], -1]);
  await db.close();
});

engineTest('ValidationError: an enum value that is not allowed, the message listing the allowed ones',
  async (store) => {
    const role = { type: 'enum', values: ['admin', 'member'] };
    const venum = { namespace: 'venum', models: { User: { fields: { role } } } };
    const db = await kvorm.open(store.url(), { schema: venum });
    const err = await expectError(db.User.create({ data: { role: 'boss' } }), kvorm.ValidationError, 'VALIDATION');
    assert.deepEqual(err.fields, ['role']);
    assert.match(err.message, /^User\.role: "boss" is not one of the enum values .*admin.*member/);
    await db.close();
  });

engineTest('NotFoundError: update of a record that does not exist', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('nf') });
  const err = await expectError(db.User.update({ where: { id: 'nope' }, data: { age: 1 } }), kvorm.NotFoundError,
    'NOT_FOUND');
  assert.deepEqual(err.fields, []);
  await db.close();
});

engineTest('UniqueViolationError: a unique value taken, naming the constraint fields', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('uv') });
  await db.User.create({ data: { email: 'a@x.io' } });
  const err = await expectError(db.User.create({ data: { email: 'a@x.io' } }), kvorm.UniqueViolationError,
    'UNIQUE_VIOLATION');
  assert.deepEqual(err.fields, ['email']);
  await db.close();
});

engineTest('ConflictError: ifVersion does not match the record version', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('conf') });
  const rec = await db.User.create({ data: { email: 'a@x.io' } });
  await expectError(db.User.delete({ where: { id: rec.id }, ifVersion: 7 }), kvorm.ConflictError, 'CONFLICT');
  await db.close();
});

engineTest('SchemaError: an invalid schema is rejected by open', async (store) => {
  const bad = { namespace: 'sch', models: { User: { fields: { age: { type: 'integr' } } } } };
  const err = await expectError(kvorm.open(store.url(), { schema: bad }), kvorm.SchemaError, 'SCHEMA');
  assert.match(err.message, /integr/);
  await expectError(kvorm.open(store.url(), { schema: '{not json' }), kvorm.SchemaError, 'SCHEMA');
});

engineTest('SchemaError: a schema file that does not exist, in the core\'s words (as Python says it)',
  async (store) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-schema-'));
    try {
      const missing = path.join(dir, 'nope.json');
      const err = await expectError(kvorm.open(store.url(), { schema: missing }), kvorm.SchemaError, 'SCHEMA');
      assert.equal(err.message, `schema: cannot open ${missing}: No such file or directory`);
      assert.equal(err.status, -5);
      // A file the core reads is checked as the same text given inline would be.
      const file = path.join(dir, 'bad.json');
      const bad = JSON.stringify({ namespace: 'schf', models: { User: { fields: { age: { type: 'integr' } } } } });
      fs.writeFileSync(file, bad);
      const fromFile = await expectError(kvorm.open(store.url(), { schema: file }), kvorm.SchemaError, 'SCHEMA');
      assert.match(fromFile.message, /integr/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

engineTest('SchemaMismatchError: the store was written with an incompatible schema', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('mis') });
  await db.close();
  const err = await expectError(kvorm.open(store.url(), { schema: schema('mis', 'string') }),
    kvorm.SchemaMismatchError, 'SCHEMA_MISMATCH');
  assert.match(err.message, /age/);
});

engineTest('BadRequestError: an unknown op, an unknown argument, an unknown model', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('br') });
  await expectError(db.User.frobnicate({}), kvorm.BadRequestError, 'BAD_REQUEST');
  await expectError(db.User.findUnique({ where: { email: 'a@x.io' }, orderBy: {} }), kvorm.BadRequestError,
    'BAD_REQUEST');
  await expectError(db.execute('Ghost', 'count'), kvorm.BadRequestError, 'BAD_REQUEST');
  assert.throws(() => db.Ghost, kvorm.BadRequestError);
  await db.close();
});

// Redis only: an address to connect to (an LMDB path that cannot be opened is CONNECTION too, not retryable: below).
test('ConnectionError: nothing listens at the address, which open may try again [redis only]', async () => {
  const port = await freePort();
  await expectError(kvorm.open(`redis://127.0.0.1:${port}/0`, { schema: schema('conn'), connectTimeoutMs: 1000 }),
    kvorm.ConnectionError, 'CONNECTION', { retryable: true });
});

// Redis only: kills the server's client connections (an embedded store has none).
test('ConnectionError: the connection dropped during a read, which may be retried [redis only]', async () => {
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

// Redis only: a server that does not answer, through the gate proxy (an embedded store has no command timeout).
test('TimeoutError: the server does not answer within commandTimeoutMs [redis only]', async () => {
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

// Redis only: CONFIG SET maxmemory (LMDB's UNAVAILABLE situations, readonly=1 and a full map, are below).
test('UnavailableError: Redis refuses writes when out of memory; nothing is written, and a retry later works ' +
  '[redis only]', async () => {
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

engineTest('RefusedError: a query that would scan, with refuseScans', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('ref') });
  await db.User.create({ data: { email: 'a@x.io', age: 3 } });
  const err = await expectError(db.User.count({ where: { age: 3 }, refuseScans: true }), kvorm.RefusedError,
    'REFUSED');
  assert.deepEqual([err.model, err.status], ['User', -14]);
  assert.equal(await db.User.count({ where: { age: 3 } }), 1);
  await db.close();
});

// Redis only: writes a raw Redis hash field.
test('InternalError: a stored value that does not decode [redis only]', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('int') });
  const rec = await db.User.create({ data: { email: 'a@x.io', age: 3 } });
  await raw.hset(`int:{User}:r:${rec.id}`, 'age', Buffer.from([0xc1])); // 0xc1: never used in MessagePack
  await expectError(db.User.findUnique({ where: { id: rec.id } }), kvorm.InternalError, 'INTERNAL');
  await db.close();
});

test('MisuseError: an invalid URL: an unknown scheme, a malformed redis:// or lmdb:// URL', async () => {
  const dir = tempDir();
  const bad = ['ftp://127.0.0.1/0', 'redis://127.0.0.1:notaport/0', 'redis://127.0.0.1:6379/nodb', 'lmdb://',
    `lmdb://${dir}?bogus=1`, `lmdb://${dir}?readonly=2`, `lmdb://${dir}?mapsize=1024`,
    `lmdb://${dir}?mapsize=1048576&maxmapsize=65536`];
  for (const url of bad) {
    const err = await expectError(kvorm.open(url, { schema: schema('mu') }), kvorm.MisuseError, 'MISUSE');
    assert.equal(err.status, -12, url);
    assert.match(err.message, /invalid URL/, url);
  }
  assert.deepEqual(fs.readdirSync(dir), [], 'a malformed lmdb:// URL creates nothing');
});

engineTest('MisuseError: any call after close', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('mu') });
  await db.close();
  const err = await expectError(db.User.create({ data: { email: 'a@x.io' } }), kvorm.MisuseError, 'MISUSE');
  assert.deepEqual([err.model, err.op], ['User', 'create']);
});

engineTest('wrong JavaScript arguments to open are TypeErrors', async (store) => {
  await assert.rejects(kvorm.open(42, { schema: schema('te') }), TypeError);
  await assert.rejects(kvorm.open(store.url(), {}), TypeError);
  await assert.rejects(kvorm.open(store.url(), { schema: schema('te'), poolSize: -1 }), TypeError);
  await assert.rejects(kvorm.open(store.url(), { schema: schema('te'), integers: 'float' }), TypeError);
  await assert.rejects(kvorm.open(store.url(), { schema: schema('te'), refuseScans: 'yes' }), TypeError);
});

// --- LMDB only: the situations of an embedded store (docs/errors.md, "On LMDB") -------------------------------

// An open that fails on the path is CONNECTION, and not retryable: the same URL fails the same way.
async function expectOpenFailed(url, reason) {
  const err = await expectError(kvorm.open(url, { schema: schema('lpath') }), kvorm.ConnectionError, 'CONNECTION');
  assert.equal(err.status, -8);
  assert.match(err.message, /^cannot open the LMDB environment at /);
  assert.match(err.message, reason);
  return err;
}

test('ConnectionError: an lmdb:// path that is a file, is under a file, or holds no LMDB environment ' +
  '[lmdb only]', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'plain-file');
  fs.writeFileSync(file, 'not a directory');
  const err = await expectOpenFailed(`lmdb://${file}`, /: it is not a directory$/);
  assert.ok(err.message.includes(file), err.message);
  await expectOpenFailed(`lmdb://${path.join(file, 'sub')}`, /: cannot create the directory: Not a directory$/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'not a directory', 'the file is left as it was');
  // A directory whose data.mdb is not an LMDB file: pages of bytes that are no LMDB meta page.
  const notLmdb = path.join(dir, 'not-lmdb');
  const garbage = Buffer.alloc(16384, 0x5a);
  fs.mkdirSync(notLmdb);
  fs.writeFileSync(path.join(notLmdb, 'data.mdb'), garbage);
  await expectOpenFailed(`lmdb://${notLmdb}`, /: its data\.mdb is not an LMDB file$/);
  assert.ok(fs.readFileSync(path.join(notLmdb, 'data.mdb')).equals(garbage), 'data.mdb is left as it was');
});

test('ConnectionError: readonly=1 of a missing directory, or of one holding no LMDB environment, creates ' +
  'nothing [lmdb only]', async () => {
  const dir = tempDir();
  const missing = path.join(dir, 'missing', 'deeper');
  await expectOpenFailed(`lmdb://${missing}?readonly=1`, /the directory does not exist \(readonly=1 opens an/);
  assert.equal(fs.existsSync(path.join(dir, 'missing')), false);
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  await expectOpenFailed(`lmdb://${empty}?readonly=1`, /it holds no LMDB environment/);
  assert.equal(fs.existsSync(path.join(empty, 'data.mdb')), false);
  // Without readonly=1 the same missing directory is created, and opens.
  const db = await kvorm.open(`lmdb://${missing}?sync=nosync`, { schema: schema('lpath') });
  await db.close();
  assert.ok(fs.statSync(missing).isDirectory());
});

test('UnavailableError: a write to an environment opened readonly=1, not retryable; reads answer [lmdb only]',
  async () => {
    const dir = tempDir();
    const rwUrl = `lmdb://${dir}?sync=nosync`;
    const roUrl = `lmdb://${dir}?readonly=1`;
    const rw = await kvorm.open(rwUrl, { schema: schema('ro') });
    const ann = await rw.User.create({ data: { email: 'ann@x.io', age: 1 } });
    // Opened read-only while the read-write db is open in this process (they share the environment) and after.
    const beside = await kvorm.open(roUrl, { schema: schema('ro') });
    await expectError(beside.User.create({ data: { email: 'b@x.io' } }), kvorm.UnavailableError, 'UNAVAILABLE');
    await beside.close();
    await rw.close();
    const ro = await kvorm.open(roUrl, { schema: schema('ro') });
    assert.equal((await ro.User.findUnique({ where: { id: ann.id } })).email, 'ann@x.io');
    const writes = {
      create: () => ro.User.create({ data: { email: 'bob@x.io' } }),
      update: () => ro.User.update({ where: { id: ann.id }, data: { age: 2 } }),
      upsert: () => ro.User.upsert({ where: { email: 'ann@x.io' }, create: { email: 'a@x.io' }, update: { age: 2 } }),
      delete: () => ro.User.delete({ where: { id: ann.id } }),
      createMany: () => ro.User.createMany({ data: [{ email: 'c@x.io' }] }),
      updateMany: () => ro.User.updateMany({ where: {}, data: { age: 2 } }),
      deleteMany: () => ro.User.deleteMany({ where: {} }),
    };
    for (const [op, write] of Object.entries(writes)) {
      const err = await expectError(write(), kvorm.UnavailableError, 'UNAVAILABLE');
      assert.deepEqual([err.status, err.model, err.op], [-13, 'User', op]);
      assert.match(err.message, /is open read-only \(readonly=1\): nothing was written$/);
    }
    assert.deepEqual(await ro.User.findMany({ select: { email: true, age: true } }), [{ email: 'ann@x.io', age: 1 }]);
    // A schema with changes to store is refused by a read-only open, the same way.
    const changed = schema('ro');
    changed.models.User.fields.name = { type: 'string', optional: true };
    const err = await expectError(kvorm.open(roUrl, { schema: changed }), kvorm.UnavailableError, 'UNAVAILABLE');
    assert.match(err.message, /open it once read-write with this schema/);
    // While a read-only db is open in this process, a read-write open of the same environment is MISUSE.
    const misuse = await expectError(kvorm.open(rwUrl, { schema: schema('ro') }), kvorm.MisuseError, 'MISUSE');
    assert.match(misuse.message, /already open read-only in this process/);
    await ro.close();
    const again = await kvorm.open(rwUrl, { schema: schema('ro') });
    assert.equal((await again.User.update({ where: { id: ann.id }, data: { age: 2 } })).age, 2);
    await again.close();
  });

test('UnavailableError: a write that does not fit in maxmapsize, retryable; nothing is written [lmdb only]',
  async () => {
    const dir = tempDir();
    const fields = { name: { type: 'string' }, data: { type: 'bytes' } };
    const files = { namespace: 'full', models: { File: { fields } } };
    const db = await kvorm.open(`lmdb://${dir}?sync=nosync&mapsize=65536&maxmapsize=131072`, { schema: files });
    await db.File.create({ data: { name: 'small', data: Buffer.alloc(100, 1) } });
    const big = Buffer.alloc(1 << 20, 2);
    const err = await expectError(db.File.create({ data: { name: 'big', data: big } }), kvorm.UnavailableError,
      'UNAVAILABLE', { retryable: true });
    assert.deepEqual([err.status, err.model, err.op], [-13, 'File', 'create']);
    assert.match(err.message, /full: its map is 131072 bytes, the most maxmapsize allows; .* mapsize and maxmapsize/);
    assert.equal(await db.File.count(), 1, 'nothing was written');
    assert.equal((await db.File.create({ data: { name: 'tiny', data: Buffer.alloc(10) } })).name, 'tiny');
    await db.close();
    // The same request, the environment opened again with room for it, succeeds.
    const roomy = await kvorm.open(`lmdb://${dir}?sync=nosync&mapsize=65536&maxmapsize=16777216`,
      { schema: files });
    assert.ok((await roomy.File.create({ data: { name: 'big', data: big } })).data.equals(big));
    assert.equal(await roomy.File.count(), 3);
    await roomy.close();
  });
