'use strict';
// Relations through the public API (docs/queries.md, Relations): include and relation keys of select load
// belongsTo (by id and by a unique), hasOne and hasMany relations, nested, on both engines; a bad include is
// BadRequestError naming it. Args objects go to the core as they are.

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

function blogSchema(namespace) {
  return {
    namespace,
    models: {
      User: {
        fields: { email: { type: 'string', unique: true }, name: { type: 'string' } },
        relations: { profile: { hasOne: 'Profile' }, posts: { hasMany: 'Post', inverse: 'author' } },
      },
      Profile: {
        fields: { userId: { type: 'string' }, bio: { type: 'string' } },
        relations: { user: { belongsTo: 'User', fields: ['userId'] } },
      },
      Post: {
        id: { type: 'integer', generate: 'increment' },
        fields: {
          authorId: { type: 'string' }, title: { type: 'string' }, editorEmail: { type: 'string', optional: true },
        },
        relations: {
          author: { belongsTo: 'User', fields: ['authorId'] },
          editor: { belongsTo: 'User', fields: ['editorEmail'], references: ['email'] },
        },
      },
    },
  };
}

async function withBlog(store, fn) {
  const db = await kvorm.open(store.url(), { schema: blogSchema(`rel${counter++}`) });
  try {
    const ann = await db.User.create({ data: { email: 'ann@x.io', name: 'Ann' } });
    const bob = await db.User.create({ data: { email: 'bob@x.io', name: 'Bob' } });
    await db.Profile.create({ data: { userId: ann.id, bio: 'hi' } });
    await db.Post.create({ data: { authorId: ann.id, title: 'a1', editorEmail: 'bob@x.io' } });
    await db.Post.create({ data: { authorId: bob.id, title: 'b1' } });
    await fn(db, { ann, bob });
  } finally {
    await db.close();
  }
}

engineTest('include loads belongsTo by id and by a unique, and hasOne, nested', (store) => withBlog(store, async (db) => {
  const posts = await db.Post.findMany({
    orderBy: { id: 'asc' },
    select: { title: true, author: { select: { name: true }, include: { profile: { select: { bio: true } } } } },
    include: { editor: { select: { email: true } } },
  });
  assert.deepEqual(posts, [
    { title: 'a1', author: { name: 'Ann', profile: { bio: 'hi' } }, editor: { email: 'bob@x.io' } },
    { title: 'b1', author: { name: 'Bob', profile: null }, editor: null },
  ]);
}));

engineTest('findUnique and findFirst take include', (store) => withBlog(store, async (db, { ann }) => {
  const user = await db.User.findUnique({ where: { email: 'ann@x.io' }, include: { profile: true } });
  assert.equal(user.id, ann.id);
  assert.equal(user.profile.bio, 'hi');
  assert.equal(user.profile.userId, ann.id);
  const first = await db.Post.findFirst({ where: { title: 'b1' }, select: { author: { select: { email: true } } } });
  assert.deepEqual(first, { author: { email: 'bob@x.io' } });
}));

engineTest('hasMany loads each parent\'s records with its where, orderBy and take', (store) => withBlog(store, async (db) => {
  const users = await db.User.findMany({
    orderBy: { email: 'asc' },
    select: { name: true, posts: { select: { title: true }, orderBy: { title: 'desc' }, take: 1 } },
  });
  assert.deepEqual(users, [{ name: 'Ann', posts: [{ title: 'a1' }] }, { name: 'Bob', posts: [{ title: 'b1' }] }]);
}));

engineTest('a cursor in an include starts each parent\'s records at its position', (store) => withBlog(store, async (db, { ann }) => {
  for (const t of ['x0', 'x1', 'x2']) await db.Post.create({ data: { authorId: ann.id, title: t } });
  const [x0] = await db.Post.findMany({ where: { title: 'x0' } });
  const users = await db.User.findMany({
    orderBy: { email: 'asc' },
    select: { name: true, posts: { select: { title: true }, orderBy: { title: 'asc' }, cursor: { id: x0.id }, skip: 1, take: 5 } },
  });
  // Ann's walk goes on after x0; Bob's b1 sorts before the cursor's place (skip: 1 is spent on that place)
  assert.deepEqual(users, [{ name: 'Ann', posts: [{ title: 'x1' }, { title: 'x2' }] }, { name: 'Bob', posts: [] }]);
}));

engineTest('orderBy a relation\'s field and a relation\'s count', (store) => withBlog(store, async (db, { bob }) => {
  await db.Post.create({ data: { authorId: bob.id, title: 'b2' } });
  const posts = await db.Post.findMany({ orderBy: [{ author: { name: 'desc' } }, { title: 'asc' }], select: { title: true } });
  assert.deepEqual(posts.map((p) => p.title), ['b1', 'b2', 'a1']);
  const users = await db.User.findMany({ orderBy: { posts: { _count: 'desc' } }, select: { name: true } });
  assert.deepEqual(users.map((u) => u.name), ['Bob', 'Ann']);
  await assert.rejects(db.User.findMany({ orderBy: { posts: 'asc' } }),
    (e) => e instanceof kvorm.BadRequestError && /order by its count/.test(e.message));
}));

engineTest('a bad include is BadRequestError naming the relation', (store) => withBlog(store, async (db) => {
  await assert.rejects(db.Post.findMany({ include: { nope: true } }),
    (e) => e instanceof kvorm.BadRequestError && /"nope" is not a relation of Post/.test(e.message));
  await assert.rejects(db.Post.findMany({ include: { author: { cursor: { id: 1 } } } }),
    (e) => e instanceof kvorm.BadRequestError && /not "cursor"/.test(e.message));
}));

engineTest('a foreign key that names no record is a RelationError and writes nothing', async (store) => {
  const schema = blogSchema(`rel${counter++}`);
  schema.models.Post.relations.author.onDelete = 'cascade';
  const db = await kvorm.open(store.url(), { schema });
  try {
    await assert.rejects(db.Post.create({ data: { authorId: 'ghost', title: 't' } }), (e) => {
      assert.ok(e instanceof kvorm.RelationError && e instanceof kvorm.KvormError);
      assert.equal(e.code, 'RELATION');
      assert.equal(e.model, 'Post');
      assert.deepEqual(e.fields, ['authorId']);
      assert.equal(e.retryable, false);
      return true;
    });
    const ann = await db.User.create({ data: { email: 'ann@x.io', name: 'Ann' } });
    await assert.rejects(db.Post.createMany({
      data: [{ authorId: ann.id, title: 'a' }, { authorId: ann.id, title: 'b', editorEmail: 'zed@x.io' }],
    }), kvorm.RelationError);
    assert.equal(await db.Post.count(), 0);
    await db.Post.createMany({ data: [{ authorId: ann.id, title: 'a' }, { authorId: ann.id, title: 'b' }] });
    // the posts cascade with their author
    assert.deepEqual(await db.User.deleteMany({ where: { email: 'ann@x.io' } }), { count: 1 });
    assert.equal(await db.Post.count(), 0);
  } finally {
    await db.close();
  }
});

engineTest('a cascade over the atomic bound goes in chunks when asked', async (store) => {
  const schema = blogSchema(`rel${counter++}`);
  schema.models.Post.relations.author.onDelete = 'cascade';
  const db = await kvorm.open(store.url(), { schema });
  try {
    const bound = (await db.capabilities()).atomicManyLimit;
    const ann = await db.User.create({ data: { email: 'ann@x.io', name: 'Ann' } });
    for (let start = 0; start <= bound; start += 1000) {
      const n = Math.min(bound + 1, start + 1000) - start;
      await db.Post.createMany({ data: Array.from({ length: n }, (_, i) => ({ authorId: ann.id, title: `p${start + i}` })) });
    }
    await assert.rejects(db.User.deleteMany({ where: {} }), (e) => e instanceof kvorm.RelationError && /inChunks/.test(e.message));
    assert.equal(await db.Post.count(), bound + 1);
    assert.deepEqual(await db.User.deleteMany({ where: {}, inChunks: true }), { count: 1 });
    assert.equal(await db.Post.count(), 0);
  } finally {
    await db.close();
  }
});

engineTest('a restricted delete is a RelationError; the records stay', (store) => withBlog(store, async (db, { ann }) => {
  await assert.rejects(db.User.delete({ where: { id: ann.id } }),
    (e) => e instanceof kvorm.RelationError && /onDelete restrict/.test(e.message));
  assert.equal(await db.User.count(), 2);
  assert.equal(await db.Profile.count(), 1);
}));

engineTest('relation filters select by the related records', (store) => withBlog(store, async (db) => {
  const names = async (where) => (await db.User.findMany({ where, orderBy: { name: 'asc' } })).map((u) => u.name);
  assert.deepEqual(await names({ posts: { some: { title: 'a1' } } }), ['Ann']);
  assert.deepEqual(await names({ posts: { none: {} } }), []);
  assert.deepEqual(await names({ profile: { isNot: null } }), ['Ann']);
  assert.deepEqual((await db.Post.findMany({ where: { editor: { is: { name: 'Bob' } } } })).map((p) => p.title), ['a1']);
  await assert.rejects(db.Post.findMany({ where: { author: { some: {} } } }),
    (e) => e instanceof kvorm.BadRequestError && /"is" or "isNot"/.test(e.message));
}));
