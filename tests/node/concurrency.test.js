'use strict';
// Requests run off the main thread and in parallel: the event loop keeps turning while a request is pending,
// requests of different ticks are in flight together on different connections, and close() waits for those in
// flight. The evidence is what happened, never how long it took: the gate proxy (tests/tools/gate_proxy.py)
// counts the connections whose requests it holds at once, and holds a request for as long as the test wants.
// The gate is a proxy in front of the redis-server: the tests that use it are Redis-only ([redis only]). close()
// waiting for the requests in flight, and many writes in flight at once, run on every engine (engineTest).

// Each tick's requests go to the core as one batch on one libuv threadpool thread: eight batches in flight at
// once need eight threads (the default is four). Set before anything uses the threadpool.
process.env.UV_THREADPOOL_SIZE = '8';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { kvorm, Redis } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');
const { startGate } = require('./helpers/gate');
const { engineTests } = require('./helpers/engines');

const schemaOf = (namespace) => ({
  namespace,
  models: { User: { fields: { email: { type: 'string', unique: true }, n: { type: 'integer' } } } },
});
const schema = schemaOf('conc');

let redis;
let gate;
let db;
let ids;
before(async () => {
  redis = await startRedis();
  gate = await startGate(redis.port);
  db = await kvorm.open(redis.url(), { schema });
  ids = await seed(db, 200);
});
after(async () => {
  await db?.close();
  await gate?.stop();
  await redis?.stop();
});
const engineTest = engineTests(() => redis);

// Creates `count` users at once (u0@x.io, ...; n = 0, ...) and returns their ids in that order.
async function seed(handle, count) {
  const created = await Promise.all(Array.from({ length: count }, (_, n) =>
    handle.User.create({ data: { email: `u${n}@x.io`, n } })));
  return created.map((u) => u.id);
}

const nextTick = () => new Promise((resolve) => setImmediate(resolve));
// Requests through the gate wait for it as long as the machine takes: no command timeout to race with.
const NO_TIMEOUT = 600000;

test('the event loop runs while a request is pending, and the request completes once the server answers ' +
  '[redis only]', async () => {
  const own = await kvorm.open(gate.url(), { schema, commandTimeoutMs: NO_TIMEOUT });
  const { released } = await gate.hold(2, 60);
  let settled = false;
  const pending = own.User.findUnique({ where: { id: ids[0] } }).finally(() => (settled = true));
  // The gate holds the request: timers and immediates still run on the main thread, many times over.
  let immediates = 0;
  while (immediates < 50) {
    await nextTick();
    immediates++;
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(settled, false, 'the request cannot have completed: the gate holds it');
  // A second connection through the gate lets everything go.
  const other = new Redis({ port: gate.port, host: '127.0.0.1' });
  assert.equal(await other.ping(), 'PONG');
  other.disconnect();
  assert.equal(await released, 2);
  assert.equal((await pending).email, 'u0@x.io');
  assert.equal(settled, true);
  await own.close();
});

test('requests made in different ticks are in flight together, on different connections ' +
  '[redis only]', async () => {
  const own = await kvorm.open(gate.url(), { schema, commandTimeoutMs: NO_TIMEOUT });
  const { released } = await gate.hold(8, 30);
  const found = [];
  for (let i = 0; i < 8; i++) {
    found.push(own.User.findUnique({ where: { id: ids[i] } }));
    await nextTick(); // each tick's requests are a batch of their own
  }
  // 8 only if all eight were sent before any was answered: one after the other would be 1.
  assert.equal(await released, 8);
  assert.deepEqual((await Promise.all(found)).map((u) => u.n), [0, 1, 2, 3, 4, 5, 6, 7]);
  await own.close();
});

test('requests awaited one after the other never overlap [redis only]', async () => {
  const own = await kvorm.open(gate.url(), { schema, commandTimeoutMs: NO_TIMEOUT });
  const { released } = await gate.hold(2, 1); // the timeout only ends the wait: one held at a time
  for (let i = 0; i < 3; i++) assert.equal((await own.User.findUnique({ where: { id: ids[i] } })).n, i);
  assert.equal(await released, 1);
  await own.close();
});

engineTest('close waits for the requests in flight; calls after it reject', async (store) => {
  const seeding = await kvorm.open(store.url(), { schema: schemaOf('conc_close') });
  const seeded = await seed(seeding, 200);
  await seeding.close();
  const own = await kvorm.open(store.url(), { schema: schemaOf('conc_close') });
  const inFlight = Array.from({ length: 200 }, (_, i) => own.User.findUnique({ where: { id: seeded[i] } }));
  const closing = own.close();
  const late = own.User.count().then(() => 'resolved', (err) => err);
  const results = await Promise.all(inFlight);
  assert.deepEqual(results.map((u) => u?.n), Array.from({ length: 200 }, (_, n) => n));
  await closing;
  const lateError = await late;
  assert.ok(lateError instanceof kvorm.MisuseError, String(lateError));
});

engineTest('writes from many requests in flight all land', async (store) => {
  const own = await kvorm.open(store.url(), { schema: schemaOf('conc_writes') });
  await seed(own, 200);
  const count = 300;
  const written = await Promise.all(Array.from({ length: count }, (_, n) =>
    own.User.create({ data: { email: `w${n}@x.io`, n } })));
  assert.equal(new Set(written.map((u) => u.id)).size, count);
  assert.equal(await own.User.count(), 200 + count);
  // Each one landed whole: every record reads back as written.
  const found = await Promise.all(written.map((u) => own.User.findUnique({ where: { email: `w${u.n}@x.io` } })));
  assert.deepEqual(found.map((u) => u.id), written.map((u) => u.id));
  await own.close();
});
