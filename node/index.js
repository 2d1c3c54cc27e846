'use strict';
// kvorm for Node.js: open a store, then db.<Model>.<op>(args) for each op of the request protocol
// (docs/protocol.md). See docs/node.md.

const native = require('./lib/native');
const { open } = require('./lib/db');
const errors = require('./lib/errors');
const { Timestamp } = require('./lib/timestamp');

module.exports = {
  open,
  Timestamp,
  version: native.kvorm_version(),
  KvormError: errors.KvormError,
  ValidationError: errors.ValidationError,
  NotFoundError: errors.NotFoundError,
  UniqueViolationError: errors.UniqueViolationError,
  ConflictError: errors.ConflictError,
  SchemaError: errors.SchemaError,
  SchemaMismatchError: errors.SchemaMismatchError,
  BadRequestError: errors.BadRequestError,
  ConnectionError: errors.ConnectionError,
  TimeoutError: errors.TimeoutError,
  UnsupportedError: errors.UnsupportedError,
  InternalError: errors.InternalError,
  MisuseError: errors.MisuseError,
  UnavailableError: errors.UnavailableError,
  RefusedError: errors.RefusedError,
  RelationError: errors.RelationError,
};
