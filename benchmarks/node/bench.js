'use strict';
// kvorm for Node against raw ioredis (the same Redis work by hand) and against Farming Labs ORM's Redis driver,
// on one Redis server, in one run. Usage: node bench.js REDIS_URL [seconds-per-side]
// REDIS_URL is redis://host:port; the bench writes under the namespaces bench (kvorm), raw (ioredis) in database 0
// and farm (Farming Labs ORM) in database 1, and cleans nothing up: give it a throwaway server
// (scripts/bench-node.sh starts one).

const kvorm = require('kvorm');
const Redis = require('ioredis');

const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 2);
if (!url || !/^redis:\/\/[^/]+:\d+$/.test(url)) {
  console.error('usage: node bench.js redis://host:port [seconds-per-side]');
  process.exit(2);
}
const { hostname: host, port } = new URL(url);

const RECORDS = 1000; // records read by the findUnique cases
const BIG = 10000; // records present for "create at 10k"

// The schema of benchmarks/redis_bench.c.
const schema = {
  namespace: 'bench',
  models: { User: { id: { type: 'string', generate: 'ulid' }, fields: { email: { type: 'string', unique: true },
    name: { type: 'string' }, age: { type: 'integer' } } } },
};

// The raw side's create, as in benchmarks/redis_bench.c: KEYS record, unique hash, ids; ARGV unique key, id,
// then field/value pairs with $v.
const LUA_CREATE = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('id taken') end
if redis.call('HGET', KEYS[2], ARGV[1]) then return redis.error_reply('unique taken') end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
return 1
`;

// Canonical MessagePack of a short string and a small non-negative integer: what the raw side stores.
function packStr(text) {
  const body = Buffer.from(text, 'utf8');
  if (body.length < 32) return Buffer.concat([Buffer.of(0xa0 | body.length), body]);
  return Buffer.concat([Buffer.of(0xd9, body.length), body]);
}
const packSmallInt = (n) => Buffer.of(n); // 0..127: positive fixint

const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
// ULID-like 26-character id: 48-bit milliseconds then a counter, as the C bench's raw side makes.
function rawId(n) {
  let ms = Date.now();
  let out = '';
  for (let i = 0; i < 10; i++, ms = Math.floor(ms / 32)) out = B32[ms % 32] + out;
  let tail = '';
  for (let i = 0; i < 16; i++, n = Math.floor(n / 32)) tail = B32[n % 32] + tail;
  return out + tail;
}

// Operations per second of op(i) with `inFlight` requests always outstanding, for `secs` seconds.
async function throughput(op, inFlight, secs) {
  const deadline = performance.now() + secs * 1000;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline) await op(next++);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  return next / ((performance.now() - start) / 1000);
}

// kvorm and raw alternately in ABBA rounds of 0.25 s, so a drift of the machine hits both alike.
async function compare(kvOp, rawOp, inFlight) {
  const turn = 0.25;
  const rounds = Math.max(2, Math.round(seconds / turn / 2) * 2);
  await throughput(kvOp, inFlight, 0.2); // warm-up
  await throughput(rawOp, inFlight, 0.2);
  let kv = 0;
  let raw = 0;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [true, false] : [false, true];
    for (const isKv of order) {
      if (isKv) kv += await throughput(kvOp, inFlight, turn);
      else raw += await throughput(rawOp, inFlight, turn);
    }
  }
  return { kv: kv / rounds, raw: raw / rounds };
}

async function loadFarming() {
  const { createOrm, defineSchema, model, id, string, integer } = await import('@farming-labs/orm');
  const { createRedisDriver } = await import('@farming-labs/orm-redis');
  const client = new Redis({ host, port: Number(port), db: 1 });
  const farmSchema = defineSchema({
    user: model({ table: 'users', fields: { id: id(), email: string().unique(), name: string(), age: integer() } }),
  });
  return { orm: createOrm({ schema: farmSchema, driver: createRedisDriver({ client, base: 'farm' }) }), client };
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

async function main() {
  const rows = [];
  const db = await kvorm.open(`${url}/0`, { schema });
  const redis = new Redis({ host, port: Number(port), db: 0 });
  const tag = Date.now().toString(36);

  // Setup: users through kvorm, their stored hashes copied byte for byte to the raw namespace.
  const users = [];
  for (let i = 0; i < RECORDS; i += 100) {
    users.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) =>
      db.User.create({ data: { email: `user${i + j}-${tag}@example.com`, name: `User ${i + j}`, age: (i + j) % 100 } })))));
  }
  const kvIds = users.map((u) => u.id);
  const rawKeys = kvIds.map((id) => `raw:{User}:r:${id}`);
  for (const id of kvIds) {
    const stored = await redis.hgetallBuffer(`bench:{User}:r:${id}`);
    await redis.hset(`raw:{User}:r:${id}`, stored);
  }
  const sha = await redis.script('LOAD', LUA_CREATE);
  let seq = 0;

  const kvFind = (i) => db.User.findUnique({ where: { id: kvIds[i % RECORDS] } });
  const rawFind = (i) => redis.hgetallBuffer(rawKeys[i % RECORDS]);
  const kvCreate = () => {
    const n = seq++;
    return db.User.create({ data: { email: `k${n}-${tag}@example.com`, name: `New User ${n % 1000000}`,
      age: n % 100 } });
  };
  const rawCreate = () => {
    const n = seq++;
    const id = rawId(n);
    const email = packStr(`r${n}-${tag}@example.com`);
    return redis.evalsha(sha, 3, `raw:{User}:r:${id}`, 'raw:{User}:u:email', 'raw:{User}:ids', email, id,
      'email', email, 'name', packStr(`New User ${n % 1000000}`), 'age', packSmallInt(n % 100), '$v', '1');
  };

  for (const inFlight of [1, 64]) {
    const r = await compare(kvFind, rawFind, inFlight);
    rows.push({ case: 'findUnique by id', inFlight, kvorm: r.kv, other: r.raw, vs: 'ioredis HGETALL' });
  }
  for (const inFlight of [1, 64]) {
    const r = await compare(kvCreate, rawCreate, inFlight);
    rows.push({ case: 'create (one unique)', inFlight, kvorm: r.kv, other: r.raw, vs: 'ioredis EVALSHA' });
  }

  // Farming Labs ORM: the same model, findUnique by id and create with BIG records present.
  const farm = await loadFarming();
  const farmUsers = await farm.orm.user.createMany({ data: Array.from({ length: RECORDS }, (_, i) =>
    ({ email: `f${i}-${tag}@example.com`, name: `User ${i}`, age: i % 100 })) });
  const farmIds = farmUsers.map((u) => u.id);
  const farmFind = (i) => farm.orm.user.findUnique({ where: { id: farmIds[i % RECORDS] } });
  for (const inFlight of [1, 64]) {
    const r = await compare(kvFind, farmFind, inFlight);
    rows.push({ case: 'findUnique by id', inFlight, kvorm: r.kv, other: r.raw, vs: 'Farming Labs ORM' });
  }

  // Both sides at BIG records, then creates one at a time (Farming's create reads every record first).
  for (let have = RECORDS; have < BIG; have += 500) {
    const chunk = Array.from({ length: 500 }, (_, i) => ({ email: `g${have + i}-${tag}@example.com`,
      name: `User ${have + i}`, age: (have + i) % 100 }));
    await farm.orm.user.createMany({ data: chunk });
    await Promise.all(chunk.map((data) => db.User.create({ data: { ...data, email: `k${data.email}` } })));
  }
  const farmCount = await farm.orm.user.count();
  const kvCount = await db.User.count();
  let farmSeq = 0;
  const farmCreate = () => {
    const n = farmSeq++;
    return farm.orm.user.create({ data: { email: `fc${n}-${tag}@example.com`, name: `New User ${n}`, age: n % 100 } });
  };
  const kvBig = await throughput(kvCreate, 1, seconds);
  const farmBig = await throughput(farmCreate, 1, Math.max(seconds, 3));
  rows.push({ case: `create at ${Math.min(farmCount, kvCount)} records`, inFlight: 1, kvorm: kvBig, other: farmBig,
    vs: 'Farming Labs ORM' });

  console.log(`kvorm ${kvorm.version}, node ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ??
    '4 (default)'}, ${seconds} s per side per case`);
  console.log('| case | in flight | kvorm ops/s | other ops/s | other | kvorm/other |');
  console.log('|---|---:|---:|---:|---|---:|');
  for (const row of rows) {
    console.log(`| ${row.case} | ${row.inFlight} | ${fmt(row.kvorm)} | ${fmt(row.other)} | ${row.vs} | ` +
      `${(row.kvorm / row.other).toFixed(2)}x |`);
  }
  await db.close();
  redis.disconnect();
  farm.client.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
