'use strict';
// The query ops of docs/queries.md through the public API: every op, values by type at any depth (a decimal in an
// aggregate's _sum, a datetime as a groupBy key, bytes in findMany rows), the errors (RefusedError,
// BadRequestError for an unknown operator, ValidationError), the refuseScans option. Args objects go to the core
// as they are. The first tests need no server: they check how responses are decoded.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { createRequire } = require('node:module');
const { kvorm, repoRoot } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');
const { engineTests } = require('./helpers/engines');

const { decodeResponse } = require(path.join(repoRoot, 'node', 'lib', 'codec'));
const { encode, ExtData } = createRequire(path.join(repoRoot, 'node', 'package.json'))('@msgpack/msgpack');

const T0 = new Date('2024-05-06T07:08:09.123Z');
const minutes = (n) => new Date(T0.getTime() + n * 60000);

// docs/queries.md's Message: one-field indexes, a composite index and a named one with a desc part; body is not
// indexed (a where on it alone is a scan).
function messageSchema(namespace) {
  return {
    namespace,
    models: {
      Message: {
        id: { type: 'string', generate: 'ulid' },
        fields: {
          roomId: { type: 'string', index: true },
          sentAt: { type: 'datetime', index: true },
          score: { type: 'decimal', index: true, optional: true },
          likes: { type: 'integer', optional: true },
          body: { type: 'string', optional: true },
          blob: { type: 'bytes', optional: true },
          slug: { type: 'string', unique: true, optional: true },
        },
        indexes: [['roomId', 'sentAt'], { name: 'by_score', fields: ['roomId', { field: 'score', order: 'desc' }] }],
      },
    },
  };
}

// roomId, minutes after T0, score, likes, body, blob, slug
const ROWS = [
  ['a', 0, '1.5', 3, 'hello', Buffer.from([0, 1]), 's0'],
  ['a', 1, '10', 1, 'help', null, 's1'],
  ['a', 2, null, null, 'world', Buffer.from([0xff]), null],
  ['b', 3, '2.25', 5, 'hello again', Buffer.alloc(0), 's3'],
  ['b', 4, '0.001', 0, null, null, null],
];

// --- the binding alone ---------------------------------------------------------------------------------------

test('responses are converted by type at any depth: ext 1 -> string, ext -1 -> Date, bin -> Buffer', () => {
  const seconds = Math.floor(T0.getTime() / 1000);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE((BigInt((T0.getTime() % 1000) * 1000000) << 34n) | BigInt(seconds));
  const doc = encode({
    rows: [{ blob: Uint8Array.of(0, 0xff), score: new ExtData(1, Buffer.from('12.50')), sentAt: new ExtData(-1, ts),
      body: '12.50', big: 2n ** 60n, small: 5 }],
    _sum: { score: new ExtData(1, Buffer.from('-0.000000000000000000000000000001')) },
    groups: [{ sentAt: new ExtData(-1, ts), _count: { _all: 2 } }],
    json: { nested: [[{ x: new ExtData(1, Buffer.from('1')) }]] },
    other: new ExtData(7, Buffer.from('?')),
  }, { useBigInt64: true });
  const got = decodeResponse(doc);
  const row = got.rows[0];
  assert.ok(Buffer.isBuffer(row.blob));
  assert.deepEqual([...row.blob], [0, 0xff]);
  assert.equal(row.score, '12.50');
  assert.equal(row.body, '12.50');
  assert.ok(row.sentAt instanceof Date);
  assert.equal(row.sentAt.getTime(), T0.getTime());
  assert.equal(row.big, 2n ** 60n);
  assert.equal(row.small, 5);
  assert.equal(got._sum.score, '-0.000000000000000000000000000001');
  assert.equal(got.groups[0].sentAt.getTime(), T0.getTime());
  assert.equal(got.json.nested[0][0].x, '1');
  assert.ok(got.other instanceof ExtData && got.other.type === 7);
  const all = decodeResponse(doc, 'bigint');
  assert.deepEqual([all.rows[0].small, all.groups[0]._count._all], [5n, 2n]);
  assert.ok(all.rows[0].sentAt instanceof Date && Buffer.isBuffer(all.rows[0].blob));
});

test('RefusedError is exported, under KvormError', () => {
  assert.ok(new kvorm.RefusedError('x') instanceof kvorm.KvormError);
  assert.equal(new kvorm.RefusedError('x', { code: 'REFUSED' }).name, 'RefusedError');
});

// --- against the core ------------------------------------------------------------------------------------------

let redis;
let db;
let rows;
let counter = 0;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});
const engineTest = engineTests(() => redis);

// A db of its own per test (its own namespace), seeded with ROWS through createMany.
async function seeded(store, options = {}) {
  const namespace = `q${counter++}`;
  const handle = await kvorm.open(store.url(), { schema: messageSchema(namespace), ...options });
  const data = ROWS.map(([roomId, m, score, likes, body, blob, slug]) => Object.fromEntries(Object.entries({
    roomId, sentAt: minutes(m), score, likes, body, blob, slug }).filter(([, v]) => v !== null)));
  // with integers: 'bigint' every integer of a result is a BigInt, the count too
  const count = options.integers === 'bigint' ? BigInt(ROWS.length) : ROWS.length;
  assert.deepEqual(await handle.Message.createMany({ data }), { count });
  return { handle, namespace, store, rows: await handle.Message.findMany({ orderBy: { sentAt: 'asc' } }) };
}

async function withDb(store, fn, options) {
  const s = await seeded(store, options);
  db = s.handle;
  rows = s.rows;
  try {
    await fn(s);
  } finally {
    await s.handle.close();
  }
}

const ids = (list) => list.map((r) => r.id);

engineTest('findMany rows carry their types', (store) => withDb(store, async () => {
  assert.deepEqual(rows.map((r) => r.roomId), ['a', 'a', 'a', 'b', 'b']);
  assert.ok(Buffer.isBuffer(rows[0].blob));
  assert.deepEqual([...rows[0].blob], [0, 1]);
  assert.equal(rows[0].score, '1.5');
  assert.ok(rows[0].sentAt instanceof Date && rows[0].sentAt.getTime() === T0.getTime());
  assert.equal(rows[2].score, null);
  assert.equal(rows[3].blob.length, 0);
}));

engineTest('findMany: where operators, orderBy, take, skip', (store) => withDb(store, async () => {
  const m = db.Message;
  assert.deepEqual(ids(await m.findMany({ where: { roomId: 'a' }, orderBy: { sentAt: 'desc' }, take: 2 })),
    [rows[2].id, rows[1].id]);
  assert.deepEqual(ids(await m.findMany({ where: { roomId: 'a' }, orderBy: { sentAt: 'asc' }, take: -2 })),
    [rows[1].id, rows[2].id]);
  assert.deepEqual(ids(await m.findMany({ where: { roomId: 'a' }, orderBy: { sentAt: 'asc' }, skip: 1, take: 1 })),
    [rows[1].id]);
  const scored = await m.findMany({ where: { score: { gte: '2' } }, orderBy: { score: 'asc' } });
  assert.deepEqual(scored.map((r) => r.score), ['2.25', '10']);
  assert.deepEqual(ids(await m.findMany({
    where: { OR: [{ body: { startsWith: 'hel' } }, { likes: { in: [0] } }], NOT: { roomId: 'a' } },
    orderBy: { sentAt: 'asc' } })), [rows[3].id, rows[4].id]);
  assert.deepEqual(ids(await m.findMany({ where: { score: null } })), [rows[2].id]);
  assert.equal((await m.findMany({ where: { likes: { not: 3 } } })).length, 3);
  assert.deepEqual(ids(await m.findMany({ where: { sentAt: { gt: minutes(3) } } })), [rows[4].id]);
  const ordered = await m.findMany({ orderBy: [{ score: { sort: 'asc', nulls: 'last' } }] });
  assert.equal(ordered.at(-1).id, rows[2].id);
}));

engineTest('findMany: select and cursor pages', (store) => withDb(store, async () => {
  const page = await db.Message.findMany({ orderBy: { sentAt: 'asc' }, take: 2, select: { id: true, sentAt: true } });
  assert.deepEqual(page.map((r) => Object.keys(r).sort()), [['id', 'sentAt'], ['id', 'sentAt']]);
  const last = page.at(-1);
  const rest = await db.Message.findMany({ orderBy: { sentAt: 'asc' }, cursor: { id: last.id, sentAt: last.sentAt },
    skip: 1 });
  assert.deepEqual(ids(rest), ids(rows.slice(2)));
}));

engineTest('findFirst and findFirstOrThrow', (store) => withDb(store, async () => {
  assert.equal((await db.Message.findFirst({ where: { roomId: 'b' }, orderBy: { sentAt: 'desc' } })).id, rows[4].id);
  assert.equal(await db.Message.findFirst({ where: { roomId: 'zzz' } }), null);
  assert.equal((await db.Message.findFirstOrThrow({ where: { slug: 's1' } })).id, rows[1].id);
  await assert.rejects(db.Message.findFirstOrThrow({ where: { roomId: 'zzz' } }), kvorm.NotFoundError);
}));

engineTest('count with a where, take and skip', (store) => withDb(store, async () => {
  assert.equal(await db.Message.count(), 5);
  assert.equal(await db.Message.count({ where: { roomId: 'a' } }), 3);
  assert.equal(await db.Message.count({ where: { roomId: 'a' }, take: 2 }), 2);
  assert.equal(await db.Message.count({ where: { sentAt: { gt: T0 } }, skip: 1 }), 3);
}));

engineTest('aggregate values carry their types', (store) => withDb(store, async () => {
  const got = await db.Message.aggregate({ where: { roomId: 'a' }, _count: true, _sum: { score: true, likes: true },
    _avg: { likes: true }, _min: { sentAt: true, score: true }, _max: { sentAt: true, blob: true } });
  assert.equal(got._count, 3);
  assert.equal(got._sum.score, '11.5');
  assert.equal(got._sum.likes, 4);
  assert.equal(got._avg.likes, 2);
  assert.equal(got._min.sentAt.getTime(), T0.getTime());
  assert.equal(got._min.score, '1.5');
  assert.equal(got._max.sentAt.getTime(), minutes(2).getTime());
  assert.ok(Buffer.isBuffer(got._max.blob));
  assert.equal(typeof (await db.Message.aggregate({ _avg: { score: true } }))._avg.score, 'string');
  assert.deepEqual(await db.Message.aggregate({ where: { roomId: 'zzz' }, _count: { _all: true, score: true },
    _sum: { score: true } }), { _count: { _all: 0, score: 0 }, _sum: { score: null } });
}));

engineTest('groupBy keys and aggregates carry their types', (store) => withDb(store, async () => {
  const byTime = await db.Message.groupBy({ by: ['sentAt'], where: { roomId: 'b' }, _sum: { score: true } });
  assert.ok(byTime.every((g) => g.sentAt instanceof Date));
  assert.deepEqual(byTime.map((g) => g.sentAt.getTime()), rows.slice(3).map((r) => r.sentAt.getTime()));
  assert.deepEqual(byTime.map((g) => g._sum.score), ['2.25', '0.001']);
  assert.deepEqual(await db.Message.groupBy({ by: ['roomId'], _count: { _all: true }, _sum: { score: true },
    having: { _count: { _all: { gte: 3 } } } }), [{ roomId: 'a', _count: { _all: 3 }, _sum: { score: '11.5' } }]);
  const ordered = await db.Message.groupBy({ by: ['roomId'], _count: { _all: true },
    orderBy: { _count: { _all: 'asc' } } });
  assert.deepEqual(ordered.map((g) => g.roomId), ['b', 'a']);
}));

engineTest('createMany with skipDuplicates; a bad record writes nothing', (store) => withDb(store, async () => {
  await assert.rejects(db.Message.createMany({ data: [{ roomId: 'c', sentAt: T0, slug: 's1' }] }),
    kvorm.UniqueViolationError);
  assert.deepEqual(await db.Message.createMany({ data: [{ roomId: 'c', sentAt: T0, slug: 's0' },
    { roomId: 'c', sentAt: T0, slug: 'new' }], skipDuplicates: true }), { count: 1 });
  assert.equal(await db.Message.count({ where: { roomId: 'c' } }), 1);
  await assert.rejects(db.Message.createMany({ data: [{ roomId: 'd', sentAt: T0 }, { roomId: 'd', sentAt: 'nope' }] }),
    kvorm.ValidationError);
  assert.equal(await db.Message.count({ where: { roomId: 'd' } }), 0);
  // A value JavaScript cannot send exactly is refused before anything is sent, naming the field.
  const err = await db.Message.createMany({ data: [{ roomId: 'd', sentAt: T0, likes: 2 ** 60 }] }).catch((e) => e);
  assert.ok(err instanceof kvorm.ValidationError && err.fields[0] === 'likes', String(err));
}));

engineTest('updateMany and deleteMany', (store) => withDb(store, async () => {
  assert.deepEqual(await db.Message.updateMany({ where: { roomId: 'a', likes: { gte: 1 } }, data: { likes: 100 } }),
    { count: 2 });
  assert.equal(await db.Message.count({ where: { likes: 100 } }), 2);
  assert.deepEqual(await db.Message.deleteMany({ where: { roomId: 'b' } }), { count: 2 });
  assert.deepEqual(await db.Message.deleteMany(), { count: 3 });
  assert.equal((await db.Message.check()).ok, true);
}));

engineTest('explain, check and reindex', (store) => withDb(store, async () => {
  const plan = await db.Message.explain({ op: 'findMany', args: { where: { roomId: 'a' }, orderBy: { sentAt: 'asc' },
    take: 1 } });
  assert.deepEqual([plan.op, plan.model, plan.plan, plan.index, plan.sort], ['findMany', 'Message', 'index',
    'roomId_sentAt', false]);
  const scan = await db.Message.explain({ op: 'count', args: { where: { body: 'hello' }, refuseScans: true } });
  assert.deepEqual([scan.plan, scan.refused], ['scan', true]);
  const report = await db.Message.check();
  assert.deepEqual([report.ok, report.records, report.problems], [true, 5, []]);
  assert.equal(report.indexes.by_score.entries, 5);
  const built = await db.Message.reindex();
  assert.deepEqual(built.built, []);
  assert.equal(typeof built.records, 'number');
}));

engineTest('RefusedError per query, and for a db opened with refuseScans: true', (store) => withDb(store, async ({ namespace, store: own }) => {
  const err = await db.Message.findMany({ where: { body: 'hello' }, refuseScans: true }).catch((e) => e);
  assert.ok(err instanceof kvorm.RefusedError, String(err));
  assert.deepEqual([err.code, err.status, err.model, err.retryable], ['REFUSED', -14, 'Message', false]);
  assert.equal((await db.Message.findMany({ where: { body: 'hello' } })).length, 1);
  assert.equal((await db.Message.findMany({ where: { roomId: 'a' }, refuseScans: true })).length, 3);
  const strict = await kvorm.open(own.url(), { schema: messageSchema(namespace), refuseScans: true });
  try {
    await assert.rejects(strict.Message.findMany({ where: { body: 'hello' } }), kvorm.RefusedError);
    await assert.rejects(strict.Message.count({ where: { likes: { gt: 1 } } }), kvorm.RefusedError);
    await assert.rejects(strict.Message.aggregate({ where: { body: 'x' }, _count: true }), kvorm.RefusedError);
    assert.equal(await strict.Message.count({ where: { body: 'hello' }, refuseScans: false }), 1);
    assert.equal(await strict.Message.count({ where: { roomId: 'b' } }), 2);
  } finally {
    await strict.close();
  }
}));

engineTest('an unknown operator is a BadRequestError naming it', (store) => withDb(store, async () => {
  const err = await db.Message.findMany({ where: { body: { like: 'hel%' } } }).catch((e) => e);
  assert.ok(err instanceof kvorm.BadRequestError, String(err));
  assert.match(err.message, /like/);
  assert.equal(err.op, 'findMany');
  await assert.rejects(db.Message.findMany({ where: { likes: { in: 3 } } }), kvorm.BadRequestError);
  await assert.rejects(db.Message.findMany({ where: { nope: 1 } }), kvorm.BadRequestError);
  await assert.rejects(db.Message.findMany({ orderBy: { body: 'sideways' } }), kvorm.BadRequestError);
}));

engineTest('a value of the wrong type is a ValidationError', (store) => withDb(store, async () => {
  const err = await db.Message.findMany({ where: { likes: { gt: 'many' } } }).catch((e) => e);
  assert.ok(err instanceof kvorm.ValidationError, String(err));
  assert.match(err.message, /likes/);
  await assert.rejects(db.Message.count({ where: { sentAt: { lt: 'yesterday' } } }), kvorm.ValidationError);
  // Caught in JavaScript before it is sent: a number that cannot be an exact integer, at any depth of the where.
  const early = await db.Message.findMany({ where: { AND: [{ likes: { not: { in: [1.5] } } }] } }).catch((e) => e);
  assert.ok(early instanceof kvorm.ValidationError && early.fields[0] === 'likes', String(early));
}));

engineTest("integers: 'bigint' applies to query results too", (store) => withDb(store, async () => {
  const groups = await db.Message.groupBy({ by: ['roomId'], _count: { _all: true }, _sum: { likes: true } });
  assert.deepEqual(groups.map((g) => [g.roomId, g._count._all, g._sum.likes]), [['a', 3n, 4n], ['b', 2n, 5n]]);
  assert.equal(await db.Message.count({ where: { roomId: 'a' } }), 3n);
}, { integers: 'bigint' }));
