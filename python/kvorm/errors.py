"""kvorm's exceptions: one class per error code of the core (docs/errors.md), all under kvorm.Error."""
import builtins
from typing import Any, Dict, List, Mapping, Optional, Type


class Error(Exception):
    """A kvorm failure. `code` is the stable name of the core's code ("UNIQUE_VIOLATION", ...); match on it or on
    the subclass, not on the message. `retryable` is True when the same request may succeed if sent again later
    (the store was busy or unreachable and nothing was written), False when it would fail the same way."""

    code: str = "UNKNOWN"

    def __init__(self, message: str, *, code: Optional[str] = None, model: Optional[str] = None,
                 op: Optional[str] = None, fields: Optional[List[str]] = None, retryable: bool = False) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.model = model
        self.op = op
        self.fields: List[str] = list(fields or [])
        self.retryable = bool(retryable)

    def __str__(self) -> str:
        return "%s: %s" % (self.code, self.message)


class ValidationError(Error, ValueError):
    """A value does not fit the schema (wrong type, unknown field, out of range, ...)."""
    code = "VALIDATION"


class NotFound(Error, LookupError):
    """The record to update or delete (or find with find_unique_or_throw, find_first_or_throw) does not exist."""
    code = "NOT_FOUND"


class UniqueViolation(Error):
    """A unique value (or the id) is taken; `fields` names the constraint's fields."""
    code = "UNIQUE_VIOLATION"


class Conflict(Error):
    """if_version did not match: the record changed since it was read."""
    code = "CONFLICT"


class SchemaError(Error):
    """The schema document is invalid."""
    code = "SCHEMA"


class SchemaMismatch(Error):
    """The store holds data written with an incompatible schema."""
    code = "SCHEMA_MISMATCH"


class BadRequest(Error):
    """The request itself is wrong: unknown op or argument, a where that is not one unique selector, ..."""
    code = "BAD_REQUEST"


class ConnectionError(Error, builtins.ConnectionError):
    """The store cannot be reached, or the connection dropped during the call."""
    code = "CONNECTION"


class TimeoutError(Error, builtins.TimeoutError):
    """The store did not answer within connect_timeout_ms / command_timeout_ms."""
    code = "TIMEOUT"


class Unsupported(Error):
    """Valid, but this engine or version cannot do it yet."""
    code = "UNSUPPORTED"


class InternalError(Error):
    """A bug, corrupt stored data, or out of memory: please report it."""
    code = "INTERNAL"


class MisuseError(Error):
    """The API was used wrongly, e.g. a call on a closed db, or an invalid URL or option."""
    code = "MISUSE"


class Unavailable(Error):
    """The store is up but cannot serve now (Redis loading its dataset, busy with a script, a read-only replica,
    out of memory, ...); nothing was written: retry later (`retryable` is True)."""
    code = "UNAVAILABLE"


class Refused(Error):
    """A query that no index serves would scan every record of its model, and scans are refused: refuse_scans=True
    on the query, or on the db (kvorm.open(..., refuse_scans=True)) without refuse_scans=False on the query.
    Nothing was read; add an index (docs/queries.md) or allow the scan."""
    code = "REFUSED"


class RelationError(Error):
    """A relation refused the write: a foreign key names no record of its target, or a delete (or a change of a
    referenced key) is restricted by the records that reference it. Nothing was written."""
    code = "RELATION"


_BY_CODE: Dict[str, Type[Error]] = {cls.code: cls for cls in (
    ValidationError, NotFound, UniqueViolation, Conflict, SchemaError, SchemaMismatch, BadRequest,
    ConnectionError, TimeoutError, Unsupported, InternalError, MisuseError, Unavailable, Refused,
    RelationError)}


def error_class(code: str) -> Type[Error]:
    """The class for a code name; kvorm.Error itself for a code this version does not know."""
    return _BY_CODE.get(code, Error)


def text(value: Any) -> Optional[str]:
    """A string of an error document as str: bytes are decoded as UTF-8, invalid bytes replaced by U+FFFD, so this
    never fails; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def from_document(document: Any, status_name: str = "UNKNOWN") -> Error:
    """The exception for an error document ({code, message, model, op, fields, retryable}). Never fails: its
    strings may be bytes (decoded as UTF-8, invalid bytes replaced) and a document that is not a map gives an
    error of status_name (the name of the call's status)."""
    if not isinstance(document, Mapping):
        return error_class(status_name)("the error document could not be read: %r" % (document,), code=status_name)
    doc = {text(k): v for k, v in document.items()}
    code = text(doc.get("code")) or status_name
    fields = doc.get("fields")
    fields = [text(f) for f in fields] if isinstance(fields, (list, tuple)) else []
    return error_class(code)(text(doc.get("message")) or "", code=code, model=text(doc.get("model")),
                             op=text(doc.get("op")), fields=fields, retryable=doc.get("retryable") is True)
