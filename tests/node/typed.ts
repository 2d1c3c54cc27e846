// Type-checked by `tsc --noEmit` (scripts/test-node.sh): the declarations of index.d.ts used as an application
// would. Not run.
import kvorm, { open, UniqueViolationError, UnavailableError, Timestamp, type Db } from 'kvorm';

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
  await db.User.upsert({ where: { email: 'bob@example.com' }, create: { email: 'bob@example.com', name: 'Bob' },
    update: { name: 'Bob' } });
  const n: number = await db.User.count();
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
    integers: 'bigint' });
  await untyped.Post.count();
  await untyped.model('Post').findUnique({ where: { id: '1' } });
  await untyped.close();
  return seen;
}

void main;
