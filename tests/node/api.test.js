'use strict';
// The Prisma-like API end to end against a real redis-server: open, every op, select, versions, compound
// uniques, capabilities, close.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { kvorm, appSchemaPath } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');
const { engineTests } = require('./helpers/engines');

let redis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});
const engineTest = engineTests(() => redis);

// A schema of its own per test (its own namespace), so tests share the server but no keys.
function schema(namespace) {
  return {
    namespace,
    models: {
      User: {
        fields: {
          email: { type: 'string', unique: true },
          orgId: { type: 'string', optional: true },
          name: { type: 'string' },
          age: { type: 'integer', optional: true },
        },
        unique: [['orgId', 'email']],
      },
      Counter: { id: { type: 'integer', generate: 'increment' }, fields: { label: { type: 'string' } } },
    },
  };
}

engineTest('open takes the schema as a path, an object or JSON text', async (store) => {
  const fromPath = await kvorm.open(store.url(1), { schema: appSchemaPath });
  const fromText = await kvorm.open(store.url(1), { schema: fs.readFileSync(appSchemaPath, 'utf8') });
  const fromObject = await kvorm.open(store.url(1), { schema: JSON.parse(fs.readFileSync(appSchemaPath, 'utf8')) });
  const ann = await fromPath.User.create({ data: { email: 'ann@example.com', name: 'Ann', age: 31 } });
  assert.equal((await fromText.User.findUnique({ where: { id: ann.id } })).email, 'ann@example.com');
  assert.equal(await fromObject.User.count(), 1);
  await Promise.all([fromPath.close(), fromText.close(), fromObject.close()]);
});

test('open over a unix socket', async () => {
  const db = await kvorm.open(redis.unixUrl(2), { schema: schema('unix') });
  await db.User.create({ data: { email: 'u@x.io', name: 'U' } });
  assert.equal(await db.User.count(), 1);
  await db.close();
});

engineTest('create returns the record with its generated id and every field', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('create') });
  const ann = await db.User.create({ data: { email: 'ann@example.com', name: 'Ann', age: 31 } });
  assert.match(ann.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual({ ...ann, id: 'x' }, { id: 'x', email: 'ann@example.com', orgId: null, name: 'Ann', age: 31 });
  const first = await db.Counter.create({ data: { label: 'a' } });
  const second = await db.Counter.create({ data: { label: 'b' } });
  assert.deepEqual([first.id, second.id], [1, 2]);
  await db.close();
});

engineTest('findUnique by id, by a unique field and by a compound unique; null when absent', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('find') });
  const ann = await db.User.create({ data: { email: 'ann@example.com', orgId: 'o1', name: 'Ann' } });
  assert.equal((await db.User.findUnique({ where: { id: ann.id } })).name, 'Ann');
  assert.equal((await db.User.findUnique({ where: { email: 'ann@example.com' } })).id, ann.id);
  const byCompound = await db.User.findUnique({ where: { orgId_email: { orgId: 'o1', email: 'ann@example.com' } } });
  assert.equal(byCompound.id, ann.id);
  assert.equal(await db.User.findUnique({ where: { email: 'nobody@example.com' } }), null);
  await assert.rejects(db.User.findUniqueOrThrow({ where: { email: 'nobody@example.com' } }), kvorm.NotFoundError);
  assert.equal((await db.User.findUniqueOrThrow({ where: { id: ann.id } })).email, 'ann@example.com');
  await db.close();
});

engineTest('select returns only the fields asked for, and $version', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('select') });
  const ann = await db.User.create({ data: { email: 'a@x.io', name: 'Ann' }, select: { email: true } });
  assert.deepEqual(ann, { email: 'a@x.io' });
  const found = await db.User.findUnique({ where: { email: 'a@x.io' }, select: { name: true, $version: true } });
  assert.deepEqual(found, { name: 'Ann', $version: 1 });
  await db.close();
});

engineTest('update changes the given fields, bumps the version and honours ifVersion', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('update') });
  const ann = await db.User.create({ data: { email: 'a@x.io', name: 'Ann', age: 31 } });
  const updated = await db.User.update({ where: { id: ann.id }, data: { age: 32 }, select: { age: true, $version: true } });
  assert.deepEqual(updated, { age: 32, $version: 2 });
  const cleared = await db.User.update({ where: { email: 'a@x.io' }, data: { age: null }, ifVersion: 2 });
  assert.equal(cleared.age, null);
  await assert.rejects(db.User.update({ where: { id: ann.id }, data: { age: 1 }, ifVersion: 2 }), kvorm.ConflictError);
  await db.close();
});

engineTest('upsert creates when absent and updates when present', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('upsert') });
  const args = { where: { email: 'bob@x.io' }, create: { email: 'bob@x.io', name: 'Bob' }, update: { name: 'Robert' } };
  const created = await db.User.upsert(args);
  assert.equal(created.name, 'Bob');
  const updated = await db.User.upsert(args);
  assert.equal(updated.name, 'Robert');
  assert.equal(updated.id, created.id);
  assert.equal(await db.User.count(), 1);
  await db.close();
});

engineTest('delete returns the deleted record; the record is gone', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('delete') });
  const ann = await db.User.create({ data: { email: 'a@x.io', name: 'Ann' } });
  const deleted = await db.User.delete({ where: { id: ann.id } });
  assert.equal(deleted.email, 'a@x.io');
  assert.equal(await db.User.findUnique({ where: { id: ann.id } }), null);
  assert.equal(await db.User.count(), 0);
  await assert.rejects(db.User.delete({ where: { id: ann.id } }), kvorm.NotFoundError);
  await db.close();
});

engineTest('count counts the records of the model', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('count') });
  assert.equal(await db.User.count(), 0);
  await Promise.all([1, 2, 3].map((i) => db.User.create({ data: { email: `u${i}@x.io`, name: `U${i}` } })));
  assert.equal(await db.User.count(), 3);
  assert.equal(await db.User.count({}), 3);
  await db.close();
});

engineTest('every property of a model is an op sent to the core as is', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('ops') });
  const err = await db.User.findLots({ where: {} }).catch((e) => e);
  assert.ok(err instanceof kvorm.BadRequestError, String(err));
  assert.equal(err.op, 'findLots');
  assert.match(err.message, /findLots/);
  assert.equal(await db.model('User').count(), 0);
  assert.equal(typeof db.User.then, 'undefined', 'an accessor is not a thenable');
  await db.close();
});

engineTest('an unknown model is a BadRequestError naming the models there are', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('unknown') });
  assert.throws(() => db.Usr, (err) => err instanceof kvorm.BadRequestError && /Usr/.test(err.message) &&
    /User/.test(err.message));
  assert.throws(() => db.model('Nope'), kvorm.BadRequestError);
  assert.deepEqual(db.models, ['User', 'Counter']);
  assert.ok('User' in db);
  await db.close();
});

engineTest('capabilities describes the engine', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('caps') });
  const caps = await db.capabilities();
  assert.equal(caps.engine, store.engine);
  assert.equal(caps.snapshotReads, store.engine === 'lmdb');
  assert.equal(caps.formatVersion, 2);
  assert.equal(caps.secondaryIndexes, true);
  for (const op of ['create', 'findUnique', 'findUniqueOrThrow', 'update', 'upsert', 'delete', 'count']) {
    assert.ok(caps.ops.includes(op), op);
  }
  await db.close();
});

engineTest('close is idempotent and later calls reject with a MisuseError', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schema('close') });
  assert.equal(db.closed, false);
  const first = db.close();
  assert.equal(db.close(), first);
  await first;
  await db.close();
  assert.equal(db.closed, true);
  const err = await db.User.count().catch((e) => e);
  assert.ok(err instanceof kvorm.MisuseError, String(err));
  assert.equal(err.code, 'MISUSE');
  assert.match(err.message, /closed/);
  await assert.rejects(db.capabilities(), kvorm.MisuseError);
});

test('the package exposes the core version', () => {
  assert.match(kvorm.version, /^\d+\.\d+\.\d+$/);
});

// No URL (docs/c-api.md, kvorm_open): the URL in KVORM_URL, else lmdb://kvorm-data in the working directory.
test('open without a url opens KVORM_URL, else kvorm-data in the working directory', async () => {
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-default-'));
  const cwd = process.cwd();
  const saved = process.env.KVORM_URL;
  try {
    delete process.env.KVORM_URL;
    process.chdir(dir);
    const db = await kvorm.open({ schema: schema('dflt') });
    await db.User.create({ data: { email: 'ann@x.io', name: 'Ann' } });
    await db.close();
    assert.ok(fs.statSync(path.join(dir, 'kvorm-data')).isDirectory());
    const again = await kvorm.open(`lmdb://${path.join(dir, 'kvorm-data')}`, { schema: schema('dflt') });
    assert.equal((await again.User.findUnique({ where: { email: 'ann@x.io' } })).name, 'Ann');
    await again.close();

    process.env.KVORM_URL = redis.url(1);
    const fromEnv = await kvorm.open(null, { schema: schema('dflt_env') });
    assert.equal((await fromEnv.capabilities()).engine, 'redis');
    await fromEnv.close();
    await assert.rejects(kvorm.open(5, { schema: schema('x') }), /url must be a string, or null/);
  } finally {
    process.chdir(cwd);
    if (saved === undefined) delete process.env.KVORM_URL;
    else process.env.KVORM_URL = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the embedded store's open options win over the URL and are checked", async () => {
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-opts-'));
  try {
    const url = `lmdb://${dir}/env?mapsize=1048576&maxmapsize=1073741824&sync=full`;
    await assert.rejects(kvorm.open(url, { schema: schema('opts'), readOnly: true }),
      (e) => e instanceof kvorm.ConnectionError && /does not exist/.test(e.message));
    const db = await kvorm.open(url, { schema: schema('opts'), mapSize: 65536, maxMapSize: 262144, sync: 'nometasync' });
    let made = 0;
    let failure;
    for (; made < 2000; made++) {
      try {
        await db.User.create({ data: { email: `f${made}@x.io`, name: 'n'.repeat(1000) } });
      } catch (e) {
        failure = e;
        break;
      }
    }
    assert.ok(failure instanceof kvorm.UnavailableError, String(failure));
    assert.match(failure.message, /mapsize/);
    assert.ok(made > 10 && made < 400, `${made} records: the cap is maxMapSize's, not the URL's`);
    await db.close();

    const ro = await kvorm.open(`lmdb://${dir}/env?readonly=0`, { schema: schema('opts'), readOnly: true, maxReaders: 16 });
    assert.equal((await ro.capabilities()).readOnly, true);
    await assert.rejects(ro.User.create({ data: { email: 'ro@x.io', name: 'R' } }), kvorm.UnavailableError);
    assert.equal(await ro.User.count(), made);
    await ro.close();

    for (const [options, message] of [
      [{ mapSize: 100 }, /map_size/], [{ sync: 'sometimes' }, /sync must be/], [{ readOnly: 1 }, /readOnly must be/],
      [{ maxReaders: 0 }, /maxReaders must be/], [{ mapSize: 1.5 }, /mapSize must be/],
      [{ mapSize: 1 << 20, maxMapSize: 65536 }, /max_map_size/],
    ]) {
      await assert.rejects(kvorm.open(`lmdb://${dir}/bad`, { schema: schema('opts'), ...options }), message);
    }
    assert.equal(fs.existsSync(`${dir}/bad`), false, 'refused options create nothing');
    // on Redis: refused before any connection is tried (nothing listens on port 1)
    await assert.rejects(kvorm.open('redis://127.0.0.1:1', { schema: schema('opts'), sync: 'nosync' }),
      (e) => e instanceof kvorm.MisuseError && /sync is an option of the embedded store/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
