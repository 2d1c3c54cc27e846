'use strict';
// The error classes: one per kvorm status (docs/errors.md), all extending KvormError. Codes are matched by their
// stable name ('UNIQUE_VIOLATION'), as the error document carries it; numbers are kept as `.status`.
// `retryable` is the error document's: true when the same call may succeed if made again later (nothing was
// written, or the write is known not to have happened); false when the core says nothing.

class KvormError extends Error {
  constructor(message, {
    code = 'UNKNOWN', status = null, model = null, op = null, fields = [], retryable = false,
  } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.model = model;
    this.op = op;
    this.fields = fields;
    this.retryable = retryable;
  }

  get name() {
    return this.constructor.name;
  }
}

// [status, code name, class name], in the order of kvorm.h.
const CODES = [
  [-1, 'VALIDATION', 'ValidationError'],
  [-2, 'NOT_FOUND', 'NotFoundError'],
  [-3, 'UNIQUE_VIOLATION', 'UniqueViolationError'],
  [-4, 'CONFLICT', 'ConflictError'],
  [-5, 'SCHEMA', 'SchemaError'],
  [-6, 'SCHEMA_MISMATCH', 'SchemaMismatchError'],
  [-7, 'BAD_REQUEST', 'BadRequestError'],
  [-8, 'CONNECTION', 'ConnectionError'],
  [-9, 'TIMEOUT', 'TimeoutError'],
  [-10, 'UNSUPPORTED', 'UnsupportedError'],
  [-11, 'INTERNAL', 'InternalError'],
  [-12, 'MISUSE', 'MisuseError'],
  [-13, 'UNAVAILABLE', 'UnavailableError'],
  [-14, 'REFUSED', 'RefusedError'],
  [-15, 'RELATION', 'RelationError'],
];

const classes = { KvormError };
const classByCode = new Map();
const codeByStatus = new Map();
for (const [status, code, className] of CODES) {
  // A named class per code, so stack traces and `err.name` say what happened.
  const cls = { [className]: class extends KvormError {} }[className];
  classes[className] = cls;
  classByCode.set(code, cls);
  codeByStatus.set(status, code);
}

function codeOfStatus(status) {
  return codeByStatus.get(status) ?? 'UNKNOWN';
}

// Makes the error of one code; an unknown code (a newer core) still gives a KvormError carrying it.
function makeError(code, message, details = {}) {
  const cls = classByCode.get(code) ?? KvormError;
  return new cls(message, { ...details, code });
}

// The error of a failed request, from the core's error document {code, message, model, op, fields, retryable}.
function errorFromDocument(doc, status) {
  if (doc === null || typeof doc !== 'object') {
    const code = codeOfStatus(status);
    return makeError(code, `kvorm: request failed with ${code} (${status})`, { status });
  }
  return makeError(doc.code ?? codeOfStatus(status), doc.message ?? '', {
    status,
    model: doc.model ?? null,
    op: doc.op ?? null,
    fields: Array.isArray(doc.fields) ? doc.fields : [],
    retryable: doc.retryable === true,
  });
}

module.exports = { ...classes, makeError, errorFromDocument, codeOfStatus };
