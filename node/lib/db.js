'use strict';
// One open store. Requests run in the core on libuv's threadpool (execAsync), many at a time; the core's
// connection pool serves them in parallel. kvorm_close must not run while a request is in flight or before one
// starts, so this object counts requests in flight: close() waits for them, and any call after close() rejects
// with a MisuseError before it reaches the core.

const native = require('./native');
const { encodeRequest, decodeResponse } = require('./codec');
const { makeError, errorFromDocument, codeOfStatus } = require('./errors');
const { prepareArgs } = require('./values');
const { schemaSource, describeModels } = require('./schema');
const { modelAccessor } = require('./model');
const { Dispatcher } = require('./dispatcher');

// Names a caller may probe a db for (await, JSON, test frameworks) that must not throw "unknown model".
const PROBES = new Set(['then', 'catch', 'finally', 'toJSON', 'asymmetricMatch', 'nodeType', '$$typeof']);

class Database {
  #handle;
  #dispatcher;
  #models;
  #integers;
  #accessors = new Map();
  #inFlight = 0;
  #closing = null;
  #idle = null; // resolves the wait of close() when the last request in flight settles

  constructor(handle, models, integers) {
    this.#handle = handle;
    this.#dispatcher = new Dispatcher(handle);
    this.#models = models;
    this.#integers = integers;
    const execute = (model, op, args) => this.execute(model, op, args);
    for (const name of models.keys()) this.#accessors.set(name, modelAccessor(execute, name));
  }

  // The accessor of a model: db.model('User') is db.User.
  model(name) {
    const accessor = this.#accessors.get(name);
    if (accessor === undefined) {
      const known = [...this.#accessors.keys()].join(', ');
      throw makeError('BAD_REQUEST', `kvorm: unknown model "${String(name)}" (the schema has: ${known})`, {
        model: null,
        op: null,
      });
    }
    return accessor;
  }

  get models() {
    return [...this.#accessors.keys()];
  }

  get closed() {
    return this.#closing !== null;
  }

  // What the engine guarantees (docs/protocol.md#capabilities).
  capabilities() {
    return this.execute(null, 'capabilities', undefined);
  }

  // Runs one request of the protocol: {model, op, args}. Resolves with the result, rejects with a KvormError.
  execute(model, op, args) {
    let request;
    try {
      request = this.#encode(model, op, args);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.#dispatcher.submit(request, (status, response) => {
        try {
          resolve(this.#answer(model, op, status, response));
        } catch (err) {
          reject(err);
        }
      });
      this.#inFlight += 1;
    });
  }

  // Several requests of the protocol ({ model, op, args }) sent together, in order: on Redis one round trip per
  // 128, each slice once the one before it is answered, so that a later request sees the writes of those before
  // it. Not a transaction: each has its own outcome, and the promise resolves, in order, to what
  // Promise.allSettled gives ({ status: 'fulfilled', value } or { status: 'rejected', reason: a KvormError }).
  batch(requests) {
    if (!Array.isArray(requests)) {
      return Promise.reject(makeError('BAD_REQUEST', 'kvorm: batch takes an array of { model, op, args }',
        { model: null, op: 'batch' }));
    }
    const outcomes = new Array(requests.length);
    const sent = [];
    const encoded = [];
    requests.forEach((r, i) => {
      try {
        if (r === null || typeof r !== 'object' || typeof r.op !== 'string') {
          throw makeError('BAD_REQUEST', 'kvorm: a batch request is { model, op, args }', { model: null, op: 'batch' });
        }
        encoded.push(this.#encode(r.model ?? null, r.op, r.args));
        sent.push(i);
      } catch (err) {
        outcomes[i] = { status: 'rejected', reason: err };
      }
    });
    return new Promise((resolve) => {
      const callbacks = sent.map((i) => (status, response) => {
        const r = requests[i];
        try {
          outcomes[i] = { status: 'fulfilled', value: this.#answer(r.model ?? null, r.op, status, response) };
        } catch (err) {
          outcomes[i] = { status: 'rejected', reason: err };
        }
      });
      this.#inFlight += sent.length;
      this.#dispatcher.submitInOrder(encoded, callbacks, () => resolve(outcomes));
    });
  }

  // The request document of op, packed; throws a KvormError (MISUSE once the db is closed).
  #encode(model, op, args) {
    if (this.#closing !== null) {
      throw makeError('MISUSE', `kvorm: the db is closed (${model ?? ''}${model ? '.' : ''}${op})`, { model, op });
    }
    const description = model === null ? null : (this.#models.get(model) ?? null);
    try {
      const document = model === null ? { op } : { model, op };
      if (args !== undefined) document.args = prepareArgs(description, args, { model, op });
      return encodeRequest(document);
    } catch (err) {
      throw err instanceof Error && err.code ? err :
        makeError('VALIDATION', `kvorm: ${model}.${op}: ${err.message}`, { model, op });
    }
  }

  // The result of a request the core answered, or its KvormError thrown; counts the request as settled.
  #answer(model, op, status, response) {
    this.#settled();
    let decoded;
    try {
      // Values are converted by their MessagePack type (codec.js), at any depth: no schema is needed here.
      decoded = response === null ? null : decodeResponse(response, status !== 0 ? undefined : this.#integers);
    } catch (err) {
      throw makeError('INTERNAL', `kvorm: undecodable response to ${model}.${op}: ${err.message}`, { model, op });
    }
    if (status !== 0) throw errorFromDocument(decoded, status);
    return decoded;
  }

  // Waits for the requests in flight, then closes the connections. Idempotent: every call returns the same
  // promise.
  close() {
    if (this.#closing === null) {
      this.#closing = (this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => (this.#idle = resolve)))
        .then(() => {
          native.kvorm_close(this.#handle);
          this.#handle = null;
        });
    }
    return this.#closing;
  }

  #settled() {
    this.#inFlight -= 1;
    if (this.#inFlight === 0 && this.#idle !== null) this.#idle();
  }
}

// The db as users see it: db.User is the User model's accessor, db.close() and the other methods are the
// Database's own; any other name is an unknown model and throws at once, naming the models there are.
function publicDb(database) {
  const bound = new Map();
  return new Proxy(database, {
    get(target, prop) {
      if (typeof prop === 'symbol') return Reflect.get(target, prop);
      if (prop in target) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        if (!bound.has(prop)) bound.set(prop, value.bind(target));
        return bound.get(prop);
      }
      if (PROBES.has(prop)) return undefined;
      return target.model(prop);
    },
    has(target, prop) {
      return prop in target || target.models.includes(prop);
    },
  });
}

function checkPositive(name, value) {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 1 || value > 2147483647) {
    throw new TypeError(`kvorm.open: options.${name} must be a positive integer`);
  }
  return value;
}

// Bytes: a positive safe integer (the core checks each store's bounds).
function checkBytes(name, value) {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`kvorm.open: options.${name} must be a positive integer number of bytes`);
  }
  return value;
}

const SYNC = { full: 1, nosync: 2, nometasync: 3 }; // KVORM_SYNC_FULL, _NOSYNC, _NOMETASYNC

function checkFlag(name, value) {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new TypeError(`kvorm.open: options.${name} must be a boolean`);
  return value;
}

// open(url, { schema, connectTimeoutMs, commandTimeoutMs, poolSize, integers, refuseScans, mapSize, maxMapSize, sync,
// readOnly, maxReaders }), or open({ schema, ... })
// and open(null, {...}): the core's default store (KVORM_URL, else lmdb://kvorm-data in the working directory).
async function open(url, options = {}) {
  if (url !== null && typeof url === 'object' && arguments.length === 1) {
    options = url;
    url = null;
  }
  if (url === undefined) url = null;
  if (url !== null && typeof url !== 'string') {
    throw new TypeError('kvorm.open: the url must be a string, or null for the default store');
  }
  if (options === null || typeof options !== 'object') throw new TypeError('kvorm.open: options must be an object');
  const integers = options.integers ?? 'auto';
  if (integers !== 'auto' && integers !== 'bigint') {
    throw new TypeError("kvorm.open: options.integers must be 'auto' or 'bigint'");
  }
  if (options.sync !== undefined && !Object.hasOwn(SYNC, options.sync)) {
    throw new TypeError("kvorm.open: options.sync must be 'full', 'nosync' or 'nometasync'");
  }
  const nativeOptions = {
    connectTimeoutMs: checkPositive('connectTimeoutMs', options.connectTimeoutMs),
    commandTimeoutMs: checkPositive('commandTimeoutMs', options.commandTimeoutMs),
    poolSize: checkPositive('poolSize', options.poolSize),
    refuseScans: checkFlag('refuseScans', options.refuseScans),
    mapSize: checkBytes('mapSize', options.mapSize),
    maxMapSize: checkBytes('maxMapSize', options.maxMapSize),
    sync: options.sync === undefined ? 0 : SYNC[options.sync],
    readOnly: checkFlag('readOnly', options.readOnly),
    maxReaders: checkPositive('maxReaders', options.maxReaders),
  };
  const source = schemaSource(options.schema);
  const { handle, text } = await new Promise((resolve, reject) => {
    native.openAsync(url, source.path ?? source.text, source.path !== undefined, nativeOptions,
      (status, db, message, retryable, schemaJson) => {
        if (status === 0) resolve({ handle: db, text: schemaJson });
        else reject(makeError(codeOfStatus(status), message, { status, retryable }));
      });
  });
  return publicDb(new Database(handle, describeModels(text), integers));
}

module.exports = { open };
