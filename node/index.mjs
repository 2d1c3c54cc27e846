// The ES module face of kvorm: `import kvorm from 'kvorm'` or `import { open } from 'kvorm'`.
import kvorm from './index.js';

export default kvorm;
export const {
  open,
  Timestamp,
  version,
  KvormError,
  ValidationError,
  NotFoundError,
  UniqueViolationError,
  ConflictError,
  SchemaError,
  SchemaMismatchError,
  BadRequestError,
  ConnectionError,
  TimeoutError,
  UnsupportedError,
  InternalError,
  MisuseError,
  UnavailableError,
  RefusedError,
} = kvorm;
