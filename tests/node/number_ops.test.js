'use strict';
// Atomic number operations in update data (docs/queries.md, Atomic number operations): increment, decrement,
// multiply, divide and set applied to the stored value inside the write, on both engines: many updates in flight
// at once on one counter lose nothing.

const { before, after } = require('node:test');
const assert = require('node:assert/strict');
const { kvorm } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');
const { engineTests } = require('./helpers/engines');

let redis;
let counter = 0;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});
const engineTest = engineTests(() => redis);

const schemaOf = (namespace) => ({
  namespace,
  models: {
    Room: {
      fields: {
        name: { type: 'string', unique: true },
        posts: { type: 'integer', default: 0 },
        score: { type: 'float', default: 0, index: true },
        balance: { type: 'decimal', default: '0' },
      },
    },
  },
});

engineTest('each operation applies to the stored value', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schemaOf(`nno${counter++}`) });
  try {
    const room = await db.Room.create({ data: { name: 'lobby', posts: 5, score: 1.5, balance: '10.25' } });
    const out = await db.Room.update({
      where: { id: room.id },
      data: { posts: { increment: 3 }, score: { multiply: 2 }, balance: { decrement: '0.35' } },
    });
    assert.deepEqual([out.posts, out.score, String(out.balance)], [8, 3, '9.9']);
    const after = await db.Room.update({ where: { name: 'lobby' }, data: { posts: { divide: 3 }, score: { set: 0.5 } } });
    assert.deepEqual([after.posts, after.score], [2, 0.5]);
    await assert.rejects(db.Room.update({ where: { name: 'lobby' }, data: { posts: { divide: 0 } } }),
      (e) => e.code === 'VALIDATION' && /divides by zero/.test(e.message));
    await assert.rejects(db.Room.update({ where: { name: 'lobby' }, data: { posts: { add: 1 } } }),
      (e) => e.code === 'BAD_REQUEST' && /unknown atomic operation/.test(e.message));
    assert.equal((await db.Room.findUnique({ where: { name: 'lobby' } })).posts, 2);
  } finally {
    await db.close();
  }
});

engineTest('many increments in flight on one counter lose nothing', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schemaOf(`nno${counter++}`), poolSize: 8 });
  try {
    const room = await db.Room.create({ data: { name: 'busy' } });
    const writes = [];
    for (let i = 0; i < 800; i++) {
      writes.push(db.Room.update({ where: { id: room.id }, data: { posts: { increment: 1 } }, select: { id: true } }));
    }
    await Promise.all(writes);
    assert.equal((await db.Room.findUnique({ where: { id: room.id } })).posts, 800);
    assert.deepEqual(await db.Room.updateMany({ where: {}, data: { posts: { increment: 1 } } }), { count: 1 });
  } finally {
    await db.close();
  }
});

// db.batch: several requests sent together, each with its own outcome (not a transaction), in order.
engineTest('batch gives each request its own outcome, in order', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schemaOf(`nno${counter++}`) });
  try {
    const out = await db.batch([
      { model: 'Room', op: 'create', args: { data: { name: 'a', posts: 1 } } },
      { model: 'Room', op: 'create', args: { data: { name: 'a' } } },
      { model: 'Room', op: 'updateMany', args: { where: {}, data: { posts: { increment: 2 } } } },
      { model: 'Room', op: 'findUnique', args: { where: { name: 'a' }, select: { posts: true } } },
      { op: 'capabilities' },
      null,
    ]);
    assert.equal(out[0].status, 'fulfilled');
    assert.equal(out[1].status, 'rejected');
    assert.equal(out[1].reason.code, 'UNIQUE_VIOLATION');
    assert.deepEqual(out[2].value, { count: 1 });
    assert.deepEqual(out[3].value, { posts: 3 }); // a later request sees the writes before it
    assert.ok(out[4].value.ops.includes('update'));
    assert.equal(out[5].reason.code, 'BAD_REQUEST');
    assert.deepEqual(await db.batch([]), []);
  } finally {
    await db.close();
  }
});

engineTest('a batch past 128 requests keeps its order', async (store) => {
  const db = await kvorm.open(store.url(), { schema: schemaOf(`nno${counter++}`), poolSize: 4 });
  try {
    const room = await db.Room.create({ data: { name: 'order' } });
    const sets = [];
    for (let k = 1; k <= 300; k++) sets.push({ model: 'Room', op: 'update', args: { where: { id: room.id }, data: { posts: k } } });
    const out = await db.batch(sets);
    assert.equal(out.filter((o) => o.status === 'fulfilled').length, 300);
    assert.equal((await db.Room.findUnique({ where: { id: room.id } })).posts, 300);
  } finally {
    await db.close();
  }
});
