'use strict';
// Nested writes through the public API (docs/queries.md, Nested writes): relation names in create and update data
// make, connect, disconnect and delete related records in one all-or-nothing call on both engines; include shapes
// the result; each failure is its error class and leaves nothing behind.

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

function teamSchema(namespace) {
  return {
    namespace,
    models: {
      User: {
        fields: { email: { type: 'string', unique: true }, name: { type: 'string', optional: true } },
        relations: {
          posts: { hasMany: 'Post', inverse: 'author' },
          teams: { manyToMany: 'Team', through: 'Membership' },
        },
      },
      Post: {
        fields: { authorId: { type: 'string' }, title: { type: 'string' } },
        relations: { author: { belongsTo: 'User', fields: ['authorId'], onDelete: 'cascade' } },
      },
      Team: {
        fields: { name: { type: 'string', unique: true } },
        relations: { members: { manyToMany: 'User', through: 'Membership' } },
      },
      Membership: {
        fields: {
          userId: { type: 'string' }, teamId: { type: 'string' },
          role: { type: 'enum', values: ['owner', 'member'], default: 'member' },
        },
        unique: [['userId', 'teamId']],
        relations: {
          user: { belongsTo: 'User', fields: ['userId'], onDelete: 'cascade' },
          team: { belongsTo: 'Team', fields: ['teamId'], onDelete: 'cascade' },
        },
      },
    },
  };
}

async function withTeam(store, fn) {
  const db = await kvorm.open(store.url(), { schema: teamSchema(`nw${counter++}`) });
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

engineTest('a create writes its posts and teams in one call', (store) => withTeam(store, async (db) => {
  await db.Team.create({ data: { name: 'core' } });
  const ann = await db.User.create({
    data: {
      email: 'ann@x.io',
      posts: { create: [{ title: 'one' }, { title: 'two' }] },
      teams: { connect: { name: 'core', $edge: { role: 'owner' } }, create: { name: 'web' } },
    },
    include: { posts: { orderBy: { title: 'asc' }, select: { title: true } } },
  });
  assert.deepEqual(ann.posts, [{ title: 'one' }, { title: 'two' }]);
  assert.equal(await db.Membership.count({ where: { userId: ann.id, role: 'owner' } }), 1);
  assert.equal(await db.Membership.count({ where: { userId: ann.id } }), 2);
  const post = await db.Post.create({ data: { title: 'three', author: { connect: { email: 'ann@x.io' } } } });
  assert.equal(post.authorId, ann.id);
}));

engineTest('an update sets a manyToMany and deletes through a hasMany', (store) => withTeam(store, async (db) => {
  const ann = await db.User.create({
    data: { email: 'ann@x.io', posts: { create: [{ title: 'a' }, { title: 'b' }] }, teams: { create: [{ name: 'x' }, { name: 'y' }] } },
  });
  const got = await db.User.update({
    where: { id: ann.id },
    data: { name: 'Ann', teams: { set: [{ name: 'y' }] }, posts: { deleteMany: { title: 'a' } } },
    select: { name: true, posts: { select: { title: true } } },
  });
  assert.deepEqual(got, { name: 'Ann', posts: [{ title: 'b' }] });
  assert.deepEqual(await db.Membership.findMany({ select: { role: true } }), [{ role: 'member' }]);
  assert.equal(await db.Team.count(), 2);
}));

engineTest('a failing part is its error class and writes nothing', (store) => withTeam(store, async (db) => {
  const ann = await db.User.create({ data: { email: 'ann@x.io' } });
  const counts = async () => [await db.User.count(), await db.Post.count(), await db.Team.count()];
  const was = await counts();
  await assert.rejects(db.User.create({
    data: { email: 'bob@x.io', posts: { create: { title: 'a' }, connect: { id: 'nope' } } },
  }), (e) => e instanceof kvorm.NotFoundError && /data\.posts\.connect/.test(e.message));
  await assert.rejects(db.User.create({
    data: { email: 'bob@x.io', teams: { create: [{ name: 't' }, { name: 't' }] } },
  }), kvorm.UniqueViolationError);
  await assert.rejects(db.User.update({
    where: { id: ann.id }, data: { name: 'x', posts: { create: { title: 7 } } },
  }), kvorm.ValidationError);
  await assert.rejects(db.User.create({ data: { email: 'bob@x.io', posts: { frobnicate: {} } } }),
    (e) => e instanceof kvorm.BadRequestError && /frobnicate/.test(e.message));
  assert.deepEqual(await counts(), was);
  assert.equal((await db.User.findUnique({ where: { id: ann.id } })).name, null);
}));
