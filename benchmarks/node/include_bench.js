'use strict';
// Relations from Node: findMany of U users, each with its latest T posts, through kvorm's include (the posts read
// per user from the index [authorId, at desc], all users' ranges in one round trip) beside Farming Labs ORM's
// relation selection (`select: {posts: {orderBy, take}}`, loaded "through follow-up reads"), on one Redis server,
// in one run. Both sides must return the same users and posts. Commands per query come from the server's
// INFO stats. Usage: node include_bench.js REDIS_URL [seconds-per-side] [users] [posts-per-user] [take]
// The bench writes under the namespace inode (kvorm) in database 4 and farmi (Farming Labs ORM) in database 5,
// and cleans nothing up: give it a throwaway server (scripts/bench-node-include.sh starts one).

const kvorm = require('kvorm');
const Redis = require('ioredis');
const timing = require('./timing');

const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 2);
const USERS = Number(process.argv[4] ?? 100);
const PER_USER = Number(process.argv[5] ?? 20);
const TAKE = Number(process.argv[6] ?? 10);
if (!url || !/^redis:\/\/[^/]+:\d+$/.test(url) || !(seconds > 0) || !(USERS >= 1) || !(TAKE >= 1 && TAKE <= PER_USER)) {
  console.error('usage: node include_bench.js redis://host:port [seconds-per-side] [users] [posts-per-user] [take <= posts]');
  process.exit(2);
}
const { hostname: host, port } = new URL(url);
const KV_DB = 4;
const FARM_DB = 5;
const BASE = Date.UTC(2026, 0, 1);

const schema = {
  namespace: 'inode',
  models: {
    User: { id: { type: 'string' }, fields: { name: { type: 'string' } },
      relations: { posts: { hasMany: 'Post', inverse: 'author' } } },
    Post: {
      id: { type: 'string' },
      fields: { authorId: { type: 'string' }, at: { type: 'datetime' }, title: { type: 'string' } },
      indexes: [['authorId', { field: 'at', order: 'desc' }]],
      relations: { author: { belongsTo: 'User', fields: ['authorId'], onDelete: 'cascade' } },
    },
  },
};

const userId = (u) => `user-${String(u).padStart(5, '0')}`;
const user = (u) => ({ id: userId(u), name: `name of ${userId(u)}` });
function post(u, k) {
  return { id: `post-${String(u).padStart(5, '0')}-${String(k).padStart(4, '0')}`, authorId: userId(u),
    at: new Date(BASE + 60000 * k + 1000 * (u % 60)), title: `post ${k} of ${userId(u)}: notes from the week` };
}

// What a side answered, as text to compare: each user's id and its posts' ids, in order.
function shape(users) {
  if (!Array.isArray(users) || users.length !== USERS) throw new Error(`${users?.length} users, expected ${USERS}`);
  return users.map((u) => `${u.id}:${u.posts.map((p) => p.id).join(',')}`).join(' ');
}

// Commands the server ran while fn ran (INFO stats total_commands_processed, less the INFO calls themselves).
async function commandsOf(redis, fn) {
  const count = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))[1]);
  const before = await count();
  await fn();
  return (await count()) - before - 1;
}

async function loadFarming() {
  const { createOrm, defineSchema, model, id, string, datetime, hasMany, belongsTo } = await import('@farming-labs/orm');
  const { createRedisDriver } = await import('@farming-labs/orm-redis');
  const client = new Redis({ host, port: Number(port), db: FARM_DB });
  const farmSchema = defineSchema({
    user: model({ table: 'users', fields: { id: id(), name: string() },
      relations: { posts: hasMany('post', { foreignKey: 'authorId' }) } }),
    post: model({ table: 'posts', fields: { id: id(), authorId: string(), at: datetime(), title: string() },
      relations: { author: belongsTo('user', { foreignKey: 'authorId' }) } }),
  });
  return { orm: createOrm({ schema: farmSchema, driver: createRedisDriver({ client, base: 'farmi' }) }), client };
}

async function main() {
  const redis = new Redis({ host, port: Number(port), db: KV_DB });
  if ((await redis.dbsize()) !== 0) throw new Error(`database ${KV_DB} is not empty: give the bench a throwaway server`);
  const db = await kvorm.open(`${url}/${KV_DB}`, { schema });
  const users = Array.from({ length: USERS }, (_, u) => user(u));
  const posts = users.flatMap((_, u) => Array.from({ length: PER_USER }, (__, k) => post(u, k)));
  let t0 = performance.now();
  await db.User.createMany({ data: users });
  for (let i = 0; i < posts.length; i += 1000) await db.Post.createMany({ data: posts.slice(i, i + 1000) });
  console.error(`kvorm: ${USERS} users, ${posts.length} posts in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const farm = await loadFarming();
  t0 = performance.now();
  // Its createMany reads every record of the model first, then creates one by one: a few big chunks.
  await farm.orm.user.createMany({ data: users });
  for (let i = 0; i < posts.length; i += 2500) await farm.orm.post.createMany({ data: posts.slice(i, i + 2500) });
  console.error(`Farming Labs ORM: the same in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const kvArgs = { orderBy: { id: 'asc' }, take: USERS, include: { posts: { orderBy: { at: 'desc' }, take: TAKE } } };
  const farmArgs = { orderBy: { id: 'asc' }, take: USERS,
    select: { id: true, name: true, posts: { orderBy: { at: 'desc' }, take: TAKE, select: { id: true, authorId: true, at: true, title: true } } } };
  const kvOp = () => db.User.findMany(kvArgs);
  const farmOp = () => farm.orm.user.findMany(farmArgs);
  const kvShape = shape(await kvOp());
  const farmShape = shape(await farmOp());
  if (kvShape !== farmShape) throw new Error('kvorm and Farming Labs ORM answered different users or posts');
  const kvCommands = await commandsOf(redis, kvOp);
  const farmCommands = await commandsOf(farm.client, farmOp);

  const slowTurn = Math.max(0.5, seconds / 4);
  const r = await timing.compare(kvOp, farmOp, 1, seconds, slowTurn);
  const { fmt } = timing;
  console.log(`kvorm ${kvorm.version}, node ${process.version}, ${USERS} users x ${PER_USER} posts, take ${TAKE}, ` +
    `${seconds} s per side`);
  console.log('| query | kvorm queries/s | Farming Labs ORM queries/s | kvorm/Farming | commands/query kvorm / Farming |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| findMany ${USERS} users, include latest ${TAKE} posts | ${fmt(r.kv)} | ${fmt(r.other)} | ` +
    `${(r.kv / r.other).toFixed(1)}x | ${kvCommands} / ${farmCommands} |`);
  console.log(`SUMMARY node_include_bench users=${USERS} posts=${PER_USER} take=${TAKE} ` +
    `kv_qps=${r.kv.toFixed(1)} farming_qps=${r.other.toFixed(2)} ratio=${(r.kv / r.other).toFixed(2)} ` +
    `kv_commands=${kvCommands} farming_commands=${farmCommands}`);
  await db.close();
  redis.disconnect();
  farm.client.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
