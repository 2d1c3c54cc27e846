'use strict';
// The query engine from Node: kvorm's findMany at 10,000 records beside raw ioredis doing the same reads by hand
// and beside Farming Labs ORM's findMany (which answers with KEYS plus one GET per record of the model), on one
// Redis server, in one run. Usage: node query_bench.js REDIS_URL [seconds-per-side] [records]
// REDIS_URL is redis://host:port; the bench writes under the namespace qnode (kvorm) in database 2 and farmq
// (Farming Labs ORM) in database 3, and cleans nothing up: give it a throwaway server
// (scripts/bench-node-query.sh starts one).

const kvorm = require('kvorm');
const Redis = require('ioredis');
const timing = require('./timing');

const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 2);
const RECORDS = Number(process.argv[4] ?? 10000);
if (!url || !/^redis:\/\/[^/]+:\d+$/.test(url) || !(seconds > 0) || !(RECORDS >= 1000)) {
  console.error('usage: node query_bench.js redis://host:port [seconds-per-side] [records >= 1000]');
  process.exit(2);
}
const { hostname: host, port } = new URL(url);
const KV_DB = 2;
const FARM_DB = 3;

// The model of benchmarks/query_bench.c: 200 messages per room, sentAt >= T matches 150 of them.
const ROOM_SIZE = 200;
const TAKE = 100;
const BASE = Date.UTC(2026, 0, 1);
const T = new Date(BASE + 50 * 60000);
const ROOMS = Math.floor(RECORDS / ROOM_SIZE);
const schema = {
  namespace: 'qnode',
  models: {
    Message: {
      id: { type: 'string', generate: 'ulid' },
      fields: {
        roomId: { type: 'string', index: true },
        sentAt: { type: 'datetime' },
        score: { type: 'decimal', optional: true },
        body: { type: 'string' },
        ref: { type: 'string', unique: true },
      },
      indexes: [['roomId', 'sentAt']],
    },
  },
};
let INDEX_KEY = 'qnode:{Message}:x:roomId_sentAt'; // docs/format.md, "Index keys"
const RECORD_PREFIX = 'qnode:{Message}:r:';

const roomName = (r) => `room-${String(r).padStart(6, '0')}`;
function record(i) {
  const room = roomName(Math.floor(i / ROOM_SIZE));
  const rec = {
    roomId: room,
    sentAt: new Date(BASE + 60000 * (i % ROOM_SIZE) + 1000 * (Math.floor(i / ROOM_SIZE) % 60)),
    body: `message ${String(i).padStart(7, '0')} of ${room}: see you at the usual place`,
    ref: `ref-${String(i).padStart(9, '0')}`,
  };
  if (i % 4 !== 3) rec.score = `${i % 1000}.5`;
  return rec;
}

function expectRows(rows, what) {
  if (!Array.isArray(rows) || rows.length !== TAKE) {
    throw new Error(`${what} returned ${Array.isArray(rows) ? rows.length : typeof rows} rows, expected ${TAKE}`);
  }
  return rows;
}

// explain's bound ("[<hex>", "(<hex>" or null) as a ZRANGE BYLEX bound.
function lexBound(bound, isHi) {
  if (bound === null || bound === undefined) return isHi ? '+' : '-';
  return Buffer.concat([Buffer.from(bound[0]), Buffer.from(bound.slice(1), 'hex')]);
}

// The id of an index member: a ULID id ends the member as 0x50, its 26 bytes, the terminator 0x00 0x00.
function memberId(m) {
  const n = m.length;
  if (n < 29 || m[n - 1] !== 0 || m[n - 2] !== 0 || m[n - 29] !== 0x50) {
    throw new Error('an index member does not end with a ULID element');
  }
  return m.subarray(n - 28, n - 2).toString('latin1');
}

async function loadFarming() {
  const { createOrm, defineSchema, model, id, string, datetime, decimal } = await import('@farming-labs/orm');
  const { createRedisDriver } = await import('@farming-labs/orm-redis');
  const client = new Redis({ host, port: Number(port), db: FARM_DB });
  const farmSchema = defineSchema({
    message: model({
      table: 'messages',
      fields: { id: id(), roomId: string(), sentAt: datetime(), score: decimal().nullable(), body: string(),
        ref: string().unique() },
    }),
  });
  return { orm: createOrm({ schema: farmSchema, driver: createRedisDriver({ client, base: 'farmq' }) }), client };
}

const { fmt } = timing;
const compare = (kvOp, otherOp, inFlight, turn) => timing.compare(kvOp, otherOp, inFlight, seconds, turn);

async function main() {
  const redis = new Redis({ host, port: Number(port), db: KV_DB });
  if ((await redis.dbsize()) !== 0) throw new Error(`database ${KV_DB} is not empty: give the bench a throwaway server`);
  const db = await kvorm.open(`${url}/${KV_DB}`, { schema });

  let t0 = performance.now();
  for (let i = 0; i < RECORDS; i += 1000) {
    const n = Math.min(1000, RECORDS - i);
    const res = await db.Message.createMany({ data: Array.from({ length: n }, (_, k) => record(i + k)) });
    if (Number(res.count) !== n) throw new Error(`createMany answered ${JSON.stringify(res)}`);
  }
  console.error(`kvorm: ${RECORDS} records with createMany in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // The queries cycle over up to 64 rooms; the raw side fetches the ids kvorm's findMany returned.
  const sample = Array.from({ length: Math.min(64, ROOMS) }, (_, k) => roomName(Math.floor((k * ROOMS) / Math.min(64, ROOMS))));
  const argsA = sample.map((roomId) => ({ where: { roomId }, take: TAKE }));
  const argsB = sample.map((roomId) => ({ where: { roomId, sentAt: { gte: T } }, orderBy: { sentAt: 'desc' }, take: TAKE }));
  const keysA = [];
  for (const a of argsA) {
    keysA.push(expectRows(await db.Message.findMany(a), 'kvorm findMany A').map((r) => RECORD_PREFIX + r.id));
  }
  let indexOk = (await redis.type(INDEX_KEY)) === 'zset';
  if (!indexOk) {
    // The layout changed: the one sorted set of the model named after the index, found once on this throwaway server.
    const found = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'qnode:{Message}:*', 'COUNT', 1000, 'TYPE', 'zset');
      cursor = next;
      found.push(...keys.filter((k) => k.endsWith('roomId_sentAt')));
    } while (cursor !== '0');
    if (found.length === 1) {
      console.error(`warning: the index is at ${found[0]}, not ${INDEX_KEY} (docs/format.md, "Index keys")`);
      INDEX_KEY = found[0];
      indexOk = true;
    }
  }
  const boundsB = [];
  for (const a of argsB) {
    const plan = await db.Message.explain({ op: 'findMany', args: a });
    if (plan.ranges.length !== 1) throw new Error(`explain B: ${JSON.stringify(plan)}`);
    boundsB.push([lexBound(plan.ranges[0][1], true), lexBound(plan.ranges[0][0], false)]);
  }
  if (!indexOk) console.error(`warning: no sorted set ${INDEX_KEY}: the raw side of B is skipped`);

  const kvA = (i) => db.Message.findMany(argsA[i % argsA.length]).then((r) => expectRows(r, 'kvorm A'));
  const kvB = (i) => db.Message.findMany(argsB[i % argsB.length]).then((r) => expectRows(r, 'kvorm B'));
  const hgetallAll = (keys) => {
    const p = redis.pipeline();
    for (const k of keys) p.hgetallBuffer(k);
    return p.exec();
  };
  const rawA = (i) => hgetallAll(keysA[i % keysA.length]);
  const rawB = async (i) => {
    const [hi, lo] = boundsB[i % boundsB.length];
    const members = await redis.zrangeBuffer(INDEX_KEY, hi, lo, 'BYLEX', 'REV', 'LIMIT', 0, TAKE);
    if (members.length !== TAKE) throw new Error(`raw ZRANGE BYLEX: ${members.length} members`);
    return hgetallAll(members.map((m) => RECORD_PREFIX + memberId(m)));
  };

  const rows = [];
  for (const inFlight of [1, 16]) {
    let r = await compare(kvA, rawA, inFlight);
    rows.push({ case: 'A. findMany where roomId take 100', inFlight, kv: r.kv, other: r.other, vs: 'ioredis 100 HGETALL pipelined' });
    if (indexOk) {
      r = await compare(kvB, rawB, inFlight);
      rows.push({ case: 'B. roomId + sentAt>=T, sentAt desc, take 100', inFlight, kv: r.kv, other: r.other,
        vs: 'ioredis ZRANGE BYLEX + 100 HGETALL' });
    }
  }

  // Farming Labs ORM: the same model and records, the same queries.
  const farm = await loadFarming();
  t0 = performance.now();
  // Its createMany reads every record of the model first (KEYS + GET each), then creates one by one: big chunks.
  for (let i = 0; i < RECORDS; i += 2500) {
    await farm.orm.message.createMany({ data: Array.from({ length: Math.min(2500, RECORDS - i) }, (_, k) => record(i + k)) });
  }
  console.error(`Farming Labs ORM: ${RECORDS} records in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const farmA = (i) => farm.orm.message.findMany(argsA[i % argsA.length]).then((r) => expectRows(r, 'Farming A'));
  const farmB = (i) => farm.orm.message.findMany(argsB[i % argsB.length]).then((r) => expectRows(r, 'Farming B'));
  const slowTurn = Math.max(1, seconds / 2);
  let r = await compare(kvA, farmA, 1, slowTurn);
  rows.push({ case: 'A. findMany where roomId take 100', inFlight: 1, kv: r.kv, other: r.other, vs: 'Farming Labs ORM' });
  r = await compare(kvB, farmB, 1, slowTurn);
  rows.push({ case: 'B. roomId + sentAt>=T, sentAt desc, take 100', inFlight: 1, kv: r.kv, other: r.other, vs: 'Farming Labs ORM' });

  console.log(`kvorm ${kvorm.version}, node ${process.version}, ${RECORDS} records (${ROOM_SIZE} per room), ` +
    `${seconds} s per side per case`);
  console.log('| case | in flight | kvorm ops/s | other ops/s | other | kvorm/other |');
  console.log('|---|---:|---:|---:|---|---:|');
  for (const row of rows) {
    console.log(`| ${row.case} | ${row.inFlight} | ${fmt(row.kv)} | ${fmt(row.other)} | ${row.vs} | ` +
      `${(row.kv / row.other).toFixed(2)}x |`);
  }
  const pick = (vs, inFlight, c = 'A') => rows.find((x) => x.vs.startsWith(vs) && x.inFlight === inFlight && x.case.startsWith(c));
  const summary = { records: RECORDS, a_vs_ioredis_1: pick('ioredis', 1), a_vs_ioredis_16: pick('ioredis', 16),
    a_vs_farming: pick('Farming', 1), b_vs_farming: pick('Farming', 1, 'B') };
  console.log('SUMMARY node_query_bench ' + Object.entries(summary).map(([k, v]) =>
    (typeof v === 'object' && v ? `${k}=${(v.kv / v.other).toFixed(3)}` : `${k}=${v}`)).join(' '));
  await db.close();
  redis.disconnect();
  farm.client.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
