'use strict';
// The Prisma-like API end to end against a real redis-server: open, every op, select, versions, compound
// uniques, capabilities, close.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { kvorm, appSchemaPath } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');

let redis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

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

test('open takes the schema as a path, an object or JSON text', async () => {
  const fromPath = await kvorm.open(redis.url(1), { schema: appSchemaPath });
  const fromText = await kvorm.open(redis.url(1), { schema: fs.readFileSync(appSchemaPath, 'utf8') });
  const fromObject = await kvorm.open(redis.url(1), { schema: JSON.parse(fs.readFileSync(appSchemaPath, 'utf8')) });
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

test('create returns the record with its generated id and every field', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('create') });
  const ann = await db.User.create({ data: { email: 'ann@example.com', name: 'Ann', age: 31 } });
  assert.match(ann.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual({ ...ann, id: 'x' }, { id: 'x', email: 'ann@example.com', orgId: null, name: 'Ann', age: 31 });
  const first = await db.Counter.create({ data: { label: 'a' } });
  const second = await db.Counter.create({ data: { label: 'b' } });
  assert.deepEqual([first.id, second.id], [1, 2]);
  await db.close();
});

test('findUnique by id, by a unique field and by a compound unique; null when absent', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('find') });
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

test('select returns only the fields asked for, and $version', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('select') });
  const ann = await db.User.create({ data: { email: 'a@x.io', name: 'Ann' }, select: { email: true } });
  assert.deepEqual(ann, { email: 'a@x.io' });
  const found = await db.User.findUnique({ where: { email: 'a@x.io' }, select: { name: true, $version: true } });
  assert.deepEqual(found, { name: 'Ann', $version: 1 });
  await db.close();
});

test('update changes the given fields, bumps the version and honours ifVersion', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('update') });
  const ann = await db.User.create({ data: { email: 'a@x.io', name: 'Ann', age: 31 } });
  const updated = await db.User.update({ where: { id: ann.id }, data: { age: 32 }, select: { age: true, $version: true } });
  assert.deepEqual(updated, { age: 32, $version: 2 });
  const cleared = await db.User.update({ where: { email: 'a@x.io' }, data: { age: null }, ifVersion: 2 });
  assert.equal(cleared.age, null);
  await assert.rejects(db.User.update({ where: { id: ann.id }, data: { age: 1 }, ifVersion: 2 }), kvorm.ConflictError);
  await db.close();
});

test('upsert creates when absent and updates when present', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('upsert') });
  const args = { where: { email: 'bob@x.io' }, create: { email: 'bob@x.io', name: 'Bob' }, update: { name: 'Robert' } };
  const created = await db.User.upsert(args);
  assert.equal(created.name, 'Bob');
  const updated = await db.User.upsert(args);
  assert.equal(updated.name, 'Robert');
  assert.equal(updated.id, created.id);
  assert.equal(await db.User.count(), 1);
  await db.close();
});

test('delete returns the deleted record; the record is gone', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('delete') });
  const ann = await db.User.create({ data: { email: 'a@x.io', name: 'Ann' } });
  const deleted = await db.User.delete({ where: { id: ann.id } });
  assert.equal(deleted.email, 'a@x.io');
  assert.equal(await db.User.findUnique({ where: { id: ann.id } }), null);
  assert.equal(await db.User.count(), 0);
  await assert.rejects(db.User.delete({ where: { id: ann.id } }), kvorm.NotFoundError);
  await db.close();
});

test('count counts the records of the model', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('count') });
  assert.equal(await db.User.count(), 0);
  await Promise.all([1, 2, 3].map((i) => db.User.create({ data: { email: `u${i}@x.io`, name: `U${i}` } })));
  assert.equal(await db.User.count(), 3);
  assert.equal(await db.User.count({}), 3);
  await db.close();
});

test('every property of a model is an op sent to the core as is', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('ops') });
  const err = await db.User.findLots({ where: {} }).catch((e) => e);
  assert.ok(err instanceof kvorm.BadRequestError, String(err));
  assert.equal(err.op, 'findLots');
  assert.match(err.message, /findLots/);
  assert.equal(await db.model('User').count(), 0);
  assert.equal(typeof db.User.then, 'undefined', 'an accessor is not a thenable');
  await db.close();
});

test('an unknown model is a BadRequestError naming the models there are', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('unknown') });
  assert.throws(() => db.Usr, (err) => err instanceof kvorm.BadRequestError && /Usr/.test(err.message) &&
    /User/.test(err.message));
  assert.throws(() => db.model('Nope'), kvorm.BadRequestError);
  assert.deepEqual(db.models, ['User', 'Counter']);
  assert.ok('User' in db);
  await db.close();
});

test('capabilities describes the engine', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('caps') });
  const caps = await db.capabilities();
  assert.equal(caps.engine, 'redis');
  assert.equal(caps.formatVersion, 2);
  assert.equal(caps.secondaryIndexes, true);
  for (const op of ['create', 'findUnique', 'findUniqueOrThrow', 'update', 'upsert', 'delete', 'count']) {
    assert.ok(caps.ops.includes(op), op);
  }
  await db.close();
});

test('close is idempotent and later calls reject with a MisuseError', async () => {
  const db = await kvorm.open(redis.url(), { schema: schema('close') });
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
