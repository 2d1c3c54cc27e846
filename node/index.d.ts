// Type declarations of kvorm for Node.js (docs/node.md).

/** A record of a model: field name -> value. */
export type RecordOf<T> = T & { id: string | number | bigint };

/** `where`: one unique selector (the id, a unique field, or a compound unique by its name). */
export type Where<T> = Partial<T> & { id?: string | number | bigint } & Record<string, unknown>;

/** `select`: the fields to return; `$version` adds the record version. */
/** What a relation loads: its own select (fields, and relations again) and include. */
export interface RelationArgs {
  select?: Record<string, boolean | RelationArgs>;
  include?: Include;
  /** A to-many relation's own query, per parent: its where, order, window and cursor (docs/queries.md). */
  where?: Record<string, unknown>;
  orderBy?: Record<string, unknown> | Record<string, unknown>[];
  take?: number;
  skip?: number;
  cursor?: Record<string, unknown>;
}
/** The fields to answer; a relation's name loads it, as in include (docs/queries.md, Relations). */
export type Select<T> = { [K in keyof T]?: boolean } & { id?: boolean; $version?: boolean } &
  { [relation: string]: boolean | RelationArgs | undefined };

/** `data` of create: the fields, and relation names with nested writes (docs/queries.md, Nested writes). */
export interface CreateArgs<T> {
  data: Partial<T> & Record<string, unknown>;
  select?: Select<T>;
  include?: Include;
}
/** Relations to load with the records (docs/queries.md, Relations): true, or the relation's own select and
 * include. Relation names may also be keys of select. */
export type Include = Record<string, boolean | RelationArgs>;
export interface FindUniqueArgs<T> {
  where: Where<T>;
  select?: Select<T>;
  include?: Include;
}
/** An atomic number operation of an update (docs/queries.md, Atomic number operations): applied to the stored
 * value inside the write; a null value stays null. Decimal fields take them too, with decimal strings. */
export type NumberOp<V> =
  | { set: V | null }
  | { increment: V }
  | { decrement: V }
  | { multiply: V }
  | { divide: V };
/** The value an update gives a field: a new value, null to clear it, or an atomic number operation. */
export type UpdateValue<V> = V | null | (V extends number | bigint ? NumberOp<V> : never);
export type UpdateData<T> = Partial<{ [K in keyof T]: UpdateValue<T[K]> }>;
export interface UpdateArgs<T> {
  where: Where<T>;
  /** The fields to change, and relation names with nested writes (docs/queries.md, Nested writes). */
  data: UpdateData<T> & Record<string, unknown>;
  select?: Select<T>;
  include?: Include;
  ifVersion?: number | null;
}
export interface UpsertArgs<T> {
  where: Where<T>;
  create: Partial<T> & Record<string, unknown>;
  update: UpdateData<T>;
  select?: Select<T>;
}
export interface DeleteArgs<T> {
  where: Where<T>;
  select?: Select<T>;
  ifVersion?: number | null;
  /** A cascade larger than one atomic write is written in chunks, deepest first (docs/schema.md). */
  inChunks?: boolean | null;
}
/** 'asc' or 'desc'. */
export type SortOrder = 'asc' | 'desc';

/** The operators of one field in a where (docs/queries.md); every given operator must hold. */
export interface FieldFilter<V> {
  equals?: V | null;
  not?: V | null | FieldFilter<V>;
  in?: V[];
  notIn?: V[];
  lt?: V;
  lte?: V;
  gt?: V;
  gte?: V;
  /** String fields (and a string id). */
  startsWith?: string;
  endsWith?: string;
  contains?: string;
}

/** What a where may give for a field: a value (equality), null (the field is null), or an operator map. */
export type FieldCondition<V> = V | null | FieldFilter<V>;

/** `where` of the query ops: conditions on any field (indexed or not), ANDed, with AND / OR / NOT to any depth. */
export type WhereInput<T> = { [K in keyof T]?: FieldCondition<Exclude<T[K], null | undefined>> } & {
  id?: FieldCondition<string | number | bigint>;
  AND?: WhereInput<T> | WhereInput<T>[];
  OR?: WhereInput<T>[];
  NOT?: WhereInput<T> | WhereInput<T>[];
};

/** A direction, with where nulls go. */
export type SortDirection = SortOrder | { sort: SortOrder; nulls?: 'first' | 'last' };
/** One sort key: `{ age: 'desc' }` or `{ age: { sort: 'desc', nulls: 'first' } }`; or a relation's:
 * `{ author: { name: 'asc' } }` (a to-one relation's field), `{ posts: { _count: 'desc' } }` (a to-many one's count). */
export type OrderByInput<T> = {
  [K in keyof T | 'id']?: SortDirection;
} & { [relation: string]: SortDirection | { _count: SortOrder } | { [field: string]: SortDirection } | undefined };
export type OrderBy<T> = OrderByInput<T> | OrderByInput<T>[];

/** The page arguments shared by the query ops. */
export interface PageArgs<T> {
  where?: WhereInput<T>;
  orderBy?: OrderBy<T>;
  /** Negative: |take| rows from the end, still in the query's order. */
  take?: number;
  skip?: number;
  /** Where the rows start (inclusive): the id (or a unique selector) and optionally the orderBy fields' values. */
  cursor?: Partial<T> & { id?: string | number | bigint } & Record<string, unknown>;
  /** true: fail with RefusedError rather than scan every record; false: allow the scan on a db opened with
   * refuseScans: true. */
  refuseScans?: boolean;
}

export interface FindManyArgs<T> extends PageArgs<T> {
  select?: Select<T>;
  include?: Include;
}
export type CountArgs<T> = PageArgs<T>;

/** Which fields an aggregate applies to. */
export type AggregateFields<T> = { [K in keyof T]?: boolean };
export interface AggregateSpec<T> {
  /** true: the rows; or `{ _all: true, field: true }`: rows and non-null values per field. */
  _count?: true | ({ _all?: boolean } & AggregateFields<T>);
  _min?: AggregateFields<T>;
  _max?: AggregateFields<T>;
  _sum?: AggregateFields<T>;
  _avg?: AggregateFields<T>;
}
export interface AggregateArgs<T> extends PageArgs<T>, AggregateSpec<T> {}

/** An aggregate's value: a number (a BigInt beyond 2^53), a decimal's text, a Date, ...; null over no rows. */
export type AggregateValue = number | bigint | string | Date | boolean | Uint8Array | null;
/** The result of aggregate (and the aggregates of a group): only the asked keys. */
export interface AggregateResult {
  _count?: number | bigint | { [field: string]: number | bigint };
  _min?: { [field: string]: AggregateValue };
  _max?: { [field: string]: AggregateValue };
  _sum?: { [field: string]: AggregateValue };
  _avg?: { [field: string]: AggregateValue };
}

export interface GroupByArgs<T> extends AggregateSpec<T> {
  by: (keyof T & string)[] | (keyof T & string);
  where?: WhereInput<T>;
  /** A where over the by fields and the aggregates: `{ _count: { _all: { gte: 2 } } }`. */
  having?: Record<string, unknown>;
  /** By fields or aggregates: `{ _count: { _all: 'desc' } }`, `{ _sum: { field: 'asc' } }`. */
  orderBy?: Record<string, unknown> | Record<string, unknown>[];
  take?: number;
  skip?: number;
  refuseScans?: boolean;
}
/** One group: its by fields' values and the asked aggregates. */
export type GroupByResult<T> = Partial<T> & AggregateResult & Record<string, unknown>;

export interface CreateManyArgs<T> {
  data: (Partial<T> & Record<string, unknown>)[];
  /** Skip (and do not count) a record whose id or unique value is taken, instead of failing. */
  skipDuplicates?: boolean;
}
export interface UpdateManyArgs<T> {
  where?: WhereInput<T>;
  data: UpdateData<T>;
}
export interface DeleteManyArgs<T> {
  where?: WhereInput<T>;
  refuseScans?: boolean;
  /** A cascade larger than one atomic write is written in chunks, deepest first (docs/schema.md). */
  inChunks?: boolean | null;
}
/** What createMany, updateMany and deleteMany return. */
export interface BatchPayload {
  count: number;
}

export type QueryOp = 'findMany' | 'findFirst' | 'findFirstOrThrow' | 'count' | 'aggregate' | 'groupBy';
export interface ExplainArgs {
  /** The query op to plan, by its name. */
  op: QueryOp | 'updateMany' | 'deleteMany';
  /** Its args, as that op takes them. */
  args?: Record<string, unknown>;
}
/** The plan of a query (docs/queries.md, "Plans and explain"). */
export interface Plan {
  op: string;
  model: string;
  plan: 'get' | 'unique' | 'index' | 'union' | 'scan';
  index: string | null;
  ranges: unknown[];
  ordered: boolean;
  sort: boolean;
  residual: boolean;
  estimatedRows: number | null;
  roundTrips: number | null;
  skippedIndexes: { index: string; why: string }[];
  refused: boolean;
  [key: string]: unknown;
}
/** The integrity report of check. */
export interface CheckReport {
  model: string;
  records: number;
  indexes: { [name: string]: { entries: number; ready: boolean } };
  uniques: { [name: string]: number };
  ok: boolean;
  problems: { kind: 'missing' | 'extra' | 'stale' | 'unique'; index: string; id: string | number | bigint }[];
}
export interface ReindexArgs {
  /** An index name; default: every index that is not ready. */
  index?: string;
  /** Records per chunk; default 500. */
  chunk?: number;
}
export interface ReindexResult {
  built: string[];
  records: number;
}

/** The accessor of one model: each op of the request protocol is a method taking that op's args. */
export interface ModelAccessor<T = Record<string, unknown>> {
  create(args: CreateArgs<T>): Promise<RecordOf<T>>;
  findUnique(args: FindUniqueArgs<T>): Promise<RecordOf<T> | null>;
  findUniqueOrThrow(args: FindUniqueArgs<T>): Promise<RecordOf<T>>;
  update(args: UpdateArgs<T>): Promise<RecordOf<T>>;
  upsert(args: UpsertArgs<T>): Promise<RecordOf<T>>;
  delete(args: DeleteArgs<T>): Promise<RecordOf<T>>;
  findMany(args?: FindManyArgs<T>): Promise<RecordOf<T>[]>;
  findFirst(args?: FindManyArgs<T>): Promise<RecordOf<T> | null>;
  findFirstOrThrow(args?: FindManyArgs<T>): Promise<RecordOf<T>>;
  /** A number (a BigInt with `integers: 'bigint'`). */
  count(args?: CountArgs<T>): Promise<number>;
  aggregate(args: AggregateArgs<T>): Promise<AggregateResult>;
  groupBy(args: GroupByArgs<T>): Promise<GroupByResult<T>[]>;
  createMany(args: CreateManyArgs<T>): Promise<BatchPayload>;
  updateMany(args: UpdateManyArgs<T>): Promise<BatchPayload>;
  deleteMany(args?: DeleteManyArgs<T>): Promise<BatchPayload>;
  explain(args: ExplainArgs): Promise<Plan>;
  check(): Promise<CheckReport>;
  reindex(args?: ReindexArgs): Promise<ReindexResult>;
  /** Any other op of the protocol (ops added by later cores). */
  [op: string]: (args?: any) => Promise<any>;
}

export interface Capabilities {
  engine: string;
  formatVersion: number;
  ops: string[];
  [key: string]: unknown;
}

export interface DbMethods {
  /** The accessor of a model by name; throws BadRequestError for a model the schema does not have. */
  model<T = Record<string, unknown>>(name: string): ModelAccessor<T>;
  /** The model names of the schema. */
  readonly models: string[];
  /** True once close() was called. */
  readonly closed: boolean;
  capabilities(): Promise<Capabilities>;
  /** Waits for the requests in flight, then closes. Idempotent. */
  close(): Promise<void>;
  /** Runs one request of the protocol as is. */
  execute(model: string | null, op: string, args?: object): Promise<unknown>;
  /** Several requests sent together (one round trip on Redis per 128), not a transaction: each outcome, in order,
   * as Promise.allSettled gives it. */
  batch(requests: BatchRequest[]): Promise<PromiseSettledResult<unknown>[]>;
}
export interface BatchRequest {
  model?: string | null;
  op: string;
  args?: object;
}

/** A db: its methods plus one accessor per model (db.User). Give the models' types to open<...>() for typed
 * accessors. */
export type Db<Models extends object = Record<string, Record<string, unknown>>> = DbMethods & {
  readonly [M in keyof Models]: ModelAccessor<Models[M]>;
};

export interface OpenOptions {
  /** A path to a schema file, a schema object, or JSON text. */
  schema: string | object;
  /** Milliseconds; default 2000. */
  connectTimeoutMs?: number;
  /** Milliseconds; default 5000. */
  commandTimeoutMs?: number;
  /** Connections kept for parallel requests; default 8. */
  poolSize?: number;
  /** 'auto' (default): integers as number when safe, else BigInt. 'bigint': every integer of a result (fields,
   * counts, aggregates, json contents) as a BigInt. */
  integers?: 'auto' | 'bigint';
  /** true: a query no index serves fails with RefusedError instead of scanning (unless it passes
   * refuseScans: false). Default false. */
  refuseScans?: boolean;
  /** lmdb:// only (on Redis a MisuseError); each wins over the URL parameter of its name. The map's first size
   * in bytes (mapsize; default 1 GiB). */
  mapSize?: number;
  /** How far a full map grows, in bytes (maxmapsize; default 1 TiB). */
  maxMapSize?: number;
  /** How commits reach the disk (sync): 'full' (default: each commit fsynced), 'nometasync', 'nosync'. */
  sync?: 'full' | 'nosync' | 'nometasync';
  /** Opens an existing store and refuses every write with UnavailableError (readonly=1). */
  readOnly?: boolean;
  /** Read transactions at once, all processes together (maxreaders; default 126). */
  maxReaders?: number;
}

/** Opens a store by URL (redis://, unix://, lmdb://); url null or left out: the URL in KVORM_URL, else
 * lmdb://kvorm-data, an embedded store in the working directory. */
export function open<Models extends object = Record<string, Record<string, unknown>>>(
  url: string | null | undefined,
  options: OpenOptions,
): Promise<Db<Models>>;
export function open<Models extends object = Record<string, Record<string, unknown>>>(
  options: OpenOptions,
): Promise<Db<Models>>;

/** A datetime with a sub-millisecond part: a Date (milliseconds, rounded down) carrying the exact nanoseconds. */
export class Timestamp extends Date {
  constructor(epochNanoseconds: bigint);
  static fromEpochNanoseconds(epochNanoseconds: bigint): Timestamp;
  readonly epochNanoseconds: bigint;
  toISOStringNs(): string;
}

export const version: string;

export type ErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'UNIQUE_VIOLATION'
  | 'CONFLICT'
  | 'SCHEMA'
  | 'SCHEMA_MISMATCH'
  | 'BAD_REQUEST'
  | 'CONNECTION'
  | 'TIMEOUT'
  | 'UNSUPPORTED'
  | 'INTERNAL'
  | 'MISUSE'
  | 'UNAVAILABLE'
  | 'REFUSED'
  | 'RELATION';

export class KvormError extends Error {
  /** The stable name of the code, e.g. 'UNIQUE_VIOLATION' (a newer core may add codes). */
  readonly code: ErrorCode | string;
  /** The core's status number (-1 ... -14), or null when the error was raised in JavaScript. */
  readonly status: number | null;
  readonly model: string | null;
  readonly op: string | null;
  readonly fields: string[];
  /** True when the same call may succeed if made again later, nothing having been written meanwhile (UNAVAILABLE;
   * CONNECTION and TIMEOUT except a write whose outcome is unknown and a failed authentication): the error
   * document's `retryable`. False otherwise, and for errors raised in JavaScript. */
  readonly retryable: boolean;
}
export class ValidationError extends KvormError {}
export class NotFoundError extends KvormError {}
export class UniqueViolationError extends KvormError {}
export class ConflictError extends KvormError {}
export class SchemaError extends KvormError {}
export class SchemaMismatchError extends KvormError {}
export class BadRequestError extends KvormError {}
export class ConnectionError extends KvormError {}
export class TimeoutError extends KvormError {}
export class UnsupportedError extends KvormError {}
export class InternalError extends KvormError {}
export class MisuseError extends KvormError {}
/** The store is up but cannot serve the request now (Redis loading, busy, read-only, out of memory); nothing was
 * written; `retryable` is true. */
export class UnavailableError extends KvormError {}
/** A query no index serves would scan every record, and scans are refused (refuseScans); nothing was read. */
export class RefusedError extends KvormError {}
export class RelationError extends KvormError {}

declare const kvorm: {
  open: typeof open;
  Timestamp: typeof Timestamp;
  version: string;
  KvormError: typeof KvormError;
  ValidationError: typeof ValidationError;
  NotFoundError: typeof NotFoundError;
  UniqueViolationError: typeof UniqueViolationError;
  ConflictError: typeof ConflictError;
  SchemaError: typeof SchemaError;
  SchemaMismatchError: typeof SchemaMismatchError;
  BadRequestError: typeof BadRequestError;
  ConnectionError: typeof ConnectionError;
  TimeoutError: typeof TimeoutError;
  UnsupportedError: typeof UnsupportedError;
  InternalError: typeof InternalError;
  MisuseError: typeof MisuseError;
  UnavailableError: typeof UnavailableError;
  RefusedError: typeof RefusedError;
  RelationError: typeof RelationError;
};
export default kvorm;
