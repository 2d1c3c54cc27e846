// Type declarations of kvorm for Node.js (docs/node.md).

/** A record of a model: field name -> value. */
export type RecordOf<T> = T & { id: string | number | bigint };

/** `where`: one unique selector (the id, a unique field, or a compound unique by its name). */
export type Where<T> = Partial<T> & { id?: string | number | bigint } & Record<string, unknown>;

/** `select`: the fields to return; `$version` adds the record version. */
export type Select<T> = { [K in keyof T]?: boolean } & { id?: boolean; $version?: boolean };

export interface CreateArgs<T> {
  data: Partial<T> & Record<string, unknown>;
  select?: Select<T>;
}
export interface FindUniqueArgs<T> {
  where: Where<T>;
  select?: Select<T>;
}
export interface UpdateArgs<T> {
  where: Where<T>;
  data: Partial<{ [K in keyof T]: T[K] | null }>;
  select?: Select<T>;
  ifVersion?: number | null;
}
export interface UpsertArgs<T> {
  where: Where<T>;
  create: Partial<T> & Record<string, unknown>;
  update: Partial<{ [K in keyof T]: T[K] | null }>;
  select?: Select<T>;
}
export interface DeleteArgs<T> {
  where: Where<T>;
  select?: Select<T>;
  ifVersion?: number | null;
}
export interface CountArgs<T> {
  where?: Where<T>;
}

/** The accessor of one model: each op of the request protocol is a method taking that op's args. */
export interface ModelAccessor<T = Record<string, unknown>> {
  create(args: CreateArgs<T>): Promise<RecordOf<T>>;
  findUnique(args: FindUniqueArgs<T>): Promise<RecordOf<T> | null>;
  findUniqueOrThrow(args: FindUniqueArgs<T>): Promise<RecordOf<T>>;
  update(args: UpdateArgs<T>): Promise<RecordOf<T>>;
  upsert(args: UpsertArgs<T>): Promise<RecordOf<T>>;
  delete(args: DeleteArgs<T>): Promise<RecordOf<T>>;
  count(args?: CountArgs<T>): Promise<number>;
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
  /** 'auto' (default): integers as number when safe, else BigInt. 'bigint': integer fields always as BigInt. */
  integers?: 'auto' | 'bigint';
}

export function open<Models extends object = Record<string, Record<string, unknown>>>(
  url: string,
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
  | 'UNAVAILABLE';

export class KvormError extends Error {
  /** The stable name of the code, e.g. 'UNIQUE_VIOLATION' (a newer core may add codes). */
  readonly code: ErrorCode | string;
  /** The core's status number (-1 ... -13), or null when the error was raised in JavaScript. */
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
};
export default kvorm;
