'use strict';
// JavaScript values on their way into a request (values on their way out are converted by type in codec.js,
// without the schema; the schema is read here only to know which fields are integers). The core validates every
// value against the schema; this layer only stops what MessagePack would change on the way: a number that is not
// exactly an integer given for an integer field (2^53 + 1 would arrive rounded), a BigInt outside int64 (it
// would wrap), an invalid Date, and any object that is not a plain object, an array, a Date or bytes (a Map, a
// Set, a class instance, a boxed primitive: MessagePack would send its own enumerable properties, {} for a Map),
// a function or a symbol. Those are ValidationErrors naming the model and the field, worded like the core's
// ("User.tags: cannot send a Set (...)"); everything else passes through to the core's own checks.

const { makeError } = require('./errors');
const { ExtData } = require('./codec');

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// field: the schema field the value is for (the error names it), or null for another argument of the request.
function validationError(ctx, field, message) {
  const where = field === null ? `${ctx.model ?? 'request'}.${ctx.op}` : `${ctx.model}.${field}`;
  return makeError('VALIDATION', `${where}: ${message}`, {
    model: ctx.model,
    op: ctx.op,
    fields: field === null ? [] : [field],
  });
}

const SENDABLE = 'plain objects, arrays, strings, numbers, bigints, booleans, null, Dates and Uint8Arrays';

// What a value that cannot be sent is, for the error: "a Map", "a Set", "an Order" (a class instance), "a
// function".
function describeUnsendable(value) {
  if (typeof value !== 'object') return `a ${typeof value}`;
  const name = value.constructor?.name;
  if (typeof name !== 'string' || name === '' || name === 'Object') return 'an object with a prototype of its own';
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

function unsendable(value, ctx, field) {
  const hint = value instanceof Promise ? ' (a request value was not awaited?)' : '';
  return validationError(ctx, field, `cannot send ${describeUnsendable(value)}${hint}: values are ${SENDABLE}`);
}

// Any value: BigInts must fit int64, Dates must be valid; arrays and plain objects are walked (json fields,
// compound selectors); other objects, functions and symbols are refused.
function prepareGeneric(value, ctx, field) {
  switch (typeof value) {
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) {
        throw validationError(ctx, field, `${value} is outside the int64 range`);
      }
      return value;
    case 'object':
      if (value === null) return value;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw validationError(ctx, field, 'an invalid Date');
        return value;
      }
      if (Array.isArray(value)) return value.map((item) => prepareGeneric(item, ctx, field));
      if (isPlainObject(value)) {
        const out = {};
        for (const key of Object.keys(value)) out[key] = prepareGeneric(value[key], ctx, field);
        return out;
      }
      if (ArrayBuffer.isView(value)) return value; // Uint8Array, Buffer and the other views go as their bytes
      if (value instanceof ExtData) return value; // e.g. the decimal extension (1), sent as it is
      throw unsendable(value, ctx, field);
    case 'function':
    case 'symbol':
      throw unsendable(value, ctx, field);
    default:
      return value;
  }
}

function prepareInteger(value, ctx, field) {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    const why = Number.isInteger(value)
      ? 'is beyond 2^53 and cannot be exact as a number: pass a BigInt'
      : 'is not an integer';
    throw validationError(ctx, field, `${value} ${why}`);
  }
  return prepareGeneric(value, ctx, field);
}

function prepareField(model, field, value, ctx) {
  const type = field === 'id' ? model.idType : model.fields.get(field);
  if (type === 'integer') return prepareInteger(value, ctx, field);
  return prepareGeneric(value, ctx, field);
}

// A map of field -> value (data, create, update, cursor, a record of createMany): a compound selector's value is
// such a map too.
function prepareFields(model, values, ctx) {
  if (!isPlainObject(values)) return prepareGeneric(values, ctx, null);
  const out = {};
  for (const key of Object.keys(values)) {
    const value = values[key];
    out[key] =
      isPlainObject(value) && !model.fields.has(key)
        ? prepareFields(model, value, ctx)
        : prepareField(model, key, value, ctx);
  }
  return out;
}

const LOGICAL = new Set(['AND', 'OR', 'NOT']);
const LIST_OPERATORS = new Set(['in', 'notIn']);

// The operator map of one field in a where ({ gt: 5, in: [1, 2], not: { lt: 0 } }): each operand is a value of
// the field. Unknown operators go on to the core, which names them (BAD_REQUEST).
function prepareOperators(model, field, operators, ctx) {
  const out = {};
  for (const op of Object.keys(operators)) {
    const operand = operators[op];
    if (LIST_OPERATORS.has(op) && Array.isArray(operand)) {
      out[op] = operand.map((item) => prepareField(model, field, item, ctx));
    } else if (op === 'not' && isPlainObject(operand)) {
      out[op] = prepareOperators(model, field, operand, ctx);
    } else {
      out[op] = prepareField(model, field, operand, ctx);
    }
  }
  return out;
}

// A where (docs/queries.md): field -> value or operator map, AND/OR/NOT of wheres at any depth, or a unique
// selector (a compound one by its name).
function prepareWhere(model, where, ctx) {
  if (!isPlainObject(where)) return prepareGeneric(where, ctx, null);
  const out = {};
  for (const key of Object.keys(where)) {
    const value = where[key];
    const type = key === 'id' ? model.idType : model.fields.get(key);
    if (LOGICAL.has(key) && type === undefined) {
      out[key] = Array.isArray(value)
        ? value.map((w) => prepareWhere(model, w, ctx))
        : prepareWhere(model, value, ctx);
    } else if (type === undefined) {
      out[key] = isPlainObject(value) ? prepareFields(model, value, ctx) : prepareGeneric(value, ctx, null);
    } else if (isPlainObject(value) && type !== 'json') {
      out[key] = prepareOperators(model, key, value, ctx);
    } else {
      out[key] = prepareField(model, key, value, ctx);
    }
  }
  return out;
}

const FIELD_ARGS = new Set(['data', 'create', 'update', 'cursor']);

// The args of one request. model is the schema's description of the model, or null (unknown model, no model).
function prepareArgs(model, args, ctx) {
  if (!isPlainObject(args)) return args; // not a map: the core says BAD_REQUEST
  const out = {};
  for (const key of Object.keys(args)) {
    const value = args[key];
    if (model === null) out[key] = prepareGeneric(value, ctx, null);
    else if (key === 'where') out[key] = prepareWhere(model, value, ctx);
    else if (key === 'data' && Array.isArray(value)) out[key] = value.map((r) => prepareFields(model, r, ctx));
    else if (FIELD_ARGS.has(key)) out[key] = prepareFields(model, value, ctx);
    else if (key === 'args' && ctx.op === 'explain') out[key] = prepareArgs(model, value, ctx); // the explained op's
    else out[key] = prepareGeneric(value, ctx, null);
  }
  return out;
}

module.exports = { prepareArgs, isPlainObject };
