'use strict';
// Requests run off the main thread and in parallel: the event loop keeps turning while many are in flight, many
// in flight finish sooner than the same requests one after the other, and close() waits for those in flight.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { kvorm } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');

const schema = {
  namespace: 'conc',
  models: { User: { fields: { email: { type: 'string', unique: true }, n: { type: 'integer' } } } },
};

let redis;
let db;
let ids;
before(async () => {
  redis = await startRedis();
  db = await kvorm.open(redis.url(), { schema });
  const created = await Promise.all(Array.from({ length: 200 }, (_, n) =>
    db.User.create({ data: { email: `u${n}@x.io`, n } })));
  ids = created.map((u) => u.id);
});
after(async () => {
  await db?.close();
  await redis?.stop();
});

test('a timer keeps firing while many requests are in flight', async () => {
  // 64 lanes, each sending its next request when the last one returns: 64 in flight the whole time.
  const total = 4000;
  const lanes = 64;
  let sent = 0;
  let done = 0;
  const seenWhilePending = [];
  const timer = setInterval(() => {
    if (done > 0 && done < total) seenWhilePending.push(done);
  }, 1);
  const lane = async () => {
    let found = 0;
    while (sent < total) {
      const i = sent++;
      if ((await db.User.findUnique({ where: { id: ids[i % ids.length] } })) !== null) found++;
      done++;
    }
    return found;
  };
  const found = await Promise.all(Array.from({ length: lanes }, lane));
  clearInterval(timer);
  assert.equal(found.reduce((a, b) => a + b, 0), total);
  // A blocking call would let no timer run before every request completed.
  assert.ok(seenWhilePending.length >= 5, `timer ran ${seenWhilePending.length} times while requests were pending`);
  assert.ok(new Set(seenWhilePending).size >= 5, 'the timer saw requests complete between its runs');
});

async function timeIt(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

test('many requests in flight finish faster than the same requests in sequence', async () => {
  const count = 1000;
  const find = (i) => db.User.findUnique({ where: { id: ids[i % ids.length] } });
  const sequential = async () => {
    for (let i = 0; i < count; i++) await find(i);
  };
  const parallel = () => Promise.all(Array.from({ length: count }, (_, i) => find(i)));
  // Best of five each, alternating, so a noisy neighbour on a shared machine hits both sides alike.
  let bestSequential = Infinity;
  let bestParallel = Infinity;
  for (let round = 0; round < 5; round++) {
    bestSequential = Math.min(bestSequential, await timeIt(sequential));
    bestParallel = Math.min(bestParallel, await timeIt(parallel));
  }
  assert.ok(bestParallel < bestSequential * 0.8,
    `in flight ${bestParallel.toFixed(1)} ms vs sequential ${bestSequential.toFixed(1)} ms for ${count} requests`);
});

test('close waits for the requests in flight; calls after it reject', async () => {
  const own = await kvorm.open(redis.url(), { schema });
  const inFlight = Array.from({ length: 200 }, (_, i) => own.User.findUnique({ where: { id: ids[i] } }));
  const closing = own.close();
  const late = own.User.count().then(() => 'resolved', (err) => err);
  const results = await Promise.all(inFlight);
  assert.equal(results.filter((u) => u !== null).length, 200);
  await closing;
  const lateError = await late;
  assert.ok(lateError instanceof kvorm.MisuseError, String(lateError));
});

test('writes from many requests in flight all land', async () => {
  const count = 300;
  await Promise.all(Array.from({ length: count }, (_, n) =>
    db.User.create({ data: { email: `w${n}@x.io`, n } })));
  assert.equal(await db.User.count(), 200 + count);
});
