// Type-checked by `tsc --noEmit` (scripts/test-node.sh): the declarations of index.d.ts used as an application
// would. Not run.
import kvorm, { open, UniqueViolationError, UnavailableError, RefusedError, Timestamp, type Db } from 'kvorm';

interface User {
  email: string;
  name: string;
  age?: number | bigint | null;
  role?: 'admin' | 'member';
  createdAt?: Date;
}

async function main(url: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const db: Db<{ User: User }> = await open<{ User: User }>(url, { schema: 'examples/app.schema.json' });
  const ann = await db.User.create({ data: { email: 'ann@example.com', name: 'Ann', age: 31 } });
  const email: string = ann.email;
  const found = await db.User.findUnique({ where: { email }, select: { name: true, $version: true } });
  if (found !== null) seen.push(found.name);
  await db.User.update({ where: { id: ann.id }, data: { age: null } });
  const outcomes = await db.batch([{ model: 'User', op: 'count' }, { model: 'User', op: 'findFirst', args: {} }]);
  if (outcomes[0].status === 'fulfilled') seen.push(String(outcomes[0].value));
  // atomic number operations (docs/queries.md); type-checked only
  const bump = (): Promise<unknown> => db.User.update({ where: { id: ann.id }, data: { age: { increment: 1 } } });
  seen.push(typeof bump);
  // nested writes and include on create and update (docs/queries.md, Nested writes); type-checked only
  const nested = (): Promise<unknown> => db.User.update({
    where: { id: ann.id }, data: { age: 2, posts: { create: { title: 'x' } } }, include: { posts: true } });
  seen.push(typeof nested);
  const page = (): Promise<unknown> => db.User.findMany({
    include: { posts: { where: { title: { startsWith: 'x' } }, orderBy: { title: 'asc' }, cursor: { id: 1 }, skip: 1, take: 2 } } });
  seen.push(typeof page);
  const byRelation = (): Promise<unknown> => db.User.findMany({
    orderBy: [{ posts: { _count: 'desc' } }, { name: 'asc' }], take: 10 });
  seen.push(typeof byRelation);
  await db.User.upsert({ where: { email: 'bob@example.com' }, create: { email: 'bob@example.com', name: 'Bob' },
    update: { name: 'Bob' } });
  const n: number = await db.User.count();
  // The query ops (docs/queries.md).
  const adults = await db.User.findMany({
    where: { age: { gte: 18 }, OR: [{ role: 'admin' }, { email: { endsWith: '@example.com' } }], NOT: { name: null } },
    orderBy: [{ age: 'desc' }, { name: { sort: 'asc', nulls: 'last' } }],
    take: 10, skip: 1, cursor: { id: ann.id }, select: { email: true }, refuseScans: true,
  });
  seen.push(adults.map((u) => u.email), await db.User.count({ where: { age: { in: [1, 2] } }, refuseScans: false }));
  const first = await db.User.findFirst({ where: { email: { startsWith: 'a' } } });
  if (first !== null) seen.push(first.id);
  seen.push((await db.User.findFirstOrThrow({ orderBy: { createdAt: 'desc' } })).email);
  const agg = await db.User.aggregate({ where: { role: 'member' }, _count: true, _sum: { age: true },
    _avg: { age: true }, _min: { createdAt: true }, _max: { name: true } });
  seen.push(agg._count, agg._sum?.age, agg._min?.createdAt);
  const groups = await db.User.groupBy({ by: ['role'], _count: { _all: true }, having: { _count: { _all: { gte: 2 } } },
    orderBy: { _count: { _all: 'desc' } } });
  seen.push(groups.map((g) => [g.role, g._count]));
  const made: number = (await db.User.createMany({ data: [{ email: 'c@example.com', name: 'C' }],
    skipDuplicates: true })).count;
  const changed: number = (await db.User.updateMany({ where: { age: null }, data: { age: 1 } })).count;
  const gone: number = (await db.User.deleteMany({ where: { email: { contains: 'c@' } } })).count;
  const plan = await db.User.explain({ op: 'findMany', args: { where: { age: { gt: 1 } } } });
  const report = await db.User.check();
  const built = await db.User.reindex({ chunk: 100 });
  seen.push(made, changed, gone, plan.plan, plan.index, report.ok, report.problems.length, built.built);
  try {
    await db.User.findMany({ where: { name: 'Ann' }, refuseScans: true });
  } catch (err) {
    if (err instanceof RefusedError && err.code === 'REFUSED') seen.push(err.model);
  }
  try {
    await db.User.create({ data: { email, name: 'Ann again' } });
  } catch (err) {
    if (err instanceof UniqueViolationError) seen.push(err.code, err.fields.join(','), err.model);
    if (err instanceof UnavailableError || (err instanceof kvorm.KvormError && err.code === 'UNAVAILABLE')) {
      const retryable: boolean = err.retryable;
      seen.push(retryable);
    }
  }
  const exact: bigint = Timestamp.fromEpochNanoseconds(1n).epochNanoseconds;
  const caps = await db.capabilities();
  seen.push(n, exact, caps.ops.length, kvorm.version, db.models, db.closed);
  await db.close();

  const untyped = await kvorm.open(url, { schema: { namespace: 'x', models: { Post: { fields: {} } } },
    integers: 'bigint', refuseScans: true });
  await untyped.Post.count();
  await untyped.model('Post').findUnique({ where: { id: '1' } });
  await untyped.close();
  return seen;
}

void main;
