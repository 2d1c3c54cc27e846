"""Python values <-> the MessagePack documents of the request protocol (docs/protocol.md, "Values").

Sent: datetime (timezone-aware) -> timestamp ext -1; Decimal -> its decimal text; bytes -> bin; a
msgpack.ExtType(1, b"1.5") goes as it is (the core's decimal extension); the rest as msgpack-python packs it.
Received, by MessagePack type at any depth (records, arrays of records, aggregate and groupBy maps): timestamp ext
-1 -> datetime in UTC (microseconds: Python's datetime cannot hold the stored nanoseconds), decimal ext 1 (its
payload the normalized decimal text) -> decimal.Decimal, bin -> bytes. No schema is needed to read a response.
"""
import datetime
import decimal
import functools
import threading
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import msgpack

from .errors import BadRequest, ValidationError

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
DECIMAL_EXT = 1  # the core's decimal extension type (KV_EXT_DECIMAL): payload the normalized decimal text


def _timestamp(value: datetime.datetime) -> msgpack.Timestamp:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("naive datetime %s: give a timezone-aware datetime (e.g. tzinfo=timezone.utc)"
                              % value.isoformat())
    delta = value - _EPOCH  # exact integer arithmetic, unlike value.timestamp()
    return msgpack.Timestamp(delta.days * 86400 + delta.seconds, delta.microseconds * 1000)


def _default(value: Any) -> Any:
    """Called by the packer for the types msgpack does not know."""
    if isinstance(value, datetime.datetime):
        return _timestamp(value)
    if isinstance(value, decimal.Decimal):
        # Plain notation for finite values ("1E+3" -> "1000"); the core rejects NaN and infinities itself.
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, int):  # msgpack hands over the ints it cannot pack
        raise ValidationError("integer %d is out of the int64 range" % value)
    raise ValidationError("cannot send a value of type %s" % type(value).__name__)


def _out_of_range(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX


def _unsendable(value: Any) -> bool:
    if value is None or isinstance(value, (dict, list, tuple, str, bytes, float, bool)):
        return False
    if isinstance(value, int):
        return _out_of_range(value)
    try:
        _default(value)
    except ValidationError:
        return True
    return False


def _path_of(value: Any, path: str, bad: Callable[[Any], bool]) -> Optional[str]:
    """Where in a request the first value that `bad` picks is ("args.data.age"), for the error."""
    if bad(value):
        return path
    items: Iterable[Any] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    for key, item in items:
        found = _path_of(item, "%s.%s" % (path, key) if path else str(key), bad)
        if found:
            return found
    return None


_local = threading.local()  # a msgpack Packer is not thread-safe: one per thread, reused across calls


def _packer() -> msgpack.Packer:
    packer = getattr(_local, "packer", None)
    if packer is None:
        # surrogatepass: a str holding a lone surrogate ("\ud800") goes out as the bytes Python has for it, which
        # are not UTF-8, so the core answers VALIDATION naming the field (or the unknown field) like for any
        # text that is not UTF-8, instead of the binding failing to encode the request.
        packer = _local.packer = msgpack.Packer(default=_default, use_bin_type=True, datetime=False,
                                                unicode_errors="surrogatepass")
    return packer


def pack_value(value: Any) -> bytes:
    """A part of a request as MessagePack; raises whatever the packer raises (pack_request says where)."""
    try:
        packer = _local.packer
    except AttributeError:
        packer = _packer()
    return packer.pack(value)


def pack_request(request: dict) -> bytes:
    """The request as MessagePack; a value that cannot be sent is a ValidationError naming where it is."""
    try:
        return _packer().pack(request)
    except OverflowError:
        raise _located(request, _out_of_range, "integer out of the int64 range") from None
    except ValidationError as e:
        raise _located(request, _unsendable, e.message) from None
    except (ValueError, TypeError) as e:
        raise BadRequest("cannot encode the request: %s" % e, model=request.get("model"),
                         op=request.get("op")) from None


_prefixes: Dict[Tuple[Optional[str], str], bytes] = {}  # (model, op) -> the packed request up to its args


def request_prefix(model: Optional[str], op: str) -> bytes:
    """The packed request of op (on model, or on none) up to its args' map."""
    prefix = _prefixes.get((model, op))
    if prefix is None:
        head: Dict[str, Any] = {"op": op} if model is None else {"op": op, "model": model}
        packed = pack_request(head)  # a map of 1 or 2 pairs: its first byte is the fixmap header
        prefix = bytes([packed[0] + 1]) + packed[1:] + pack_value("args")
        if len(_prefixes) < 4096:  # any op name may be sent (db.User.some_op): the cache stays bounded
            _prefixes[(model, op)] = prefix
    return prefix


def request_head(model: str, op: str, arg: str) -> bytes:
    """The packed request of op on model with the one argument arg, up to arg's value: a model method that sends
    one argument keeps it and packs only the value (Model.find_unique)."""
    return request_prefix(model, op) + b"\x81" + pack_value(arg)  # args: a fixmap of one pair


def _located(request: dict, bad: Callable[[Any], bool], message: str) -> ValidationError:
    """The error for a value the packer refused, named like the core names it: "User.age: ..." and fields
    ["age"] for a value of args.data.age (or of where, create, update)."""
    model, op = request.get("model"), request.get("op")
    parts = (_path_of(request, "", bad) or "").split(".")
    if len(parts) > 2 and parts[0] == "args":
        return ValidationError("%s.%s: %s" % (model or "request", ".".join(parts[2:]), message), model=model, op=op,
                               fields=[parts[2]])
    return ValidationError("%s: %s" % (model or "request", message), model=model, op=op)


def _ext_hook(code: int, data: bytes) -> Any:
    """The extensions other than the timestamp (which msgpack turns into a datetime itself)."""
    if code == DECIMAL_EXT:
        try:
            return decimal.Decimal(data.decode("ascii"))
        except (UnicodeDecodeError, decimal.InvalidOperation):
            raise ValueError("a decimal extension that is not decimal text: %r" % data[:40]) from None
    return msgpack.ExtType(code, data)


# A response document as Python values. A partial, not a def: it is on every call's path, and a call costs; and
# raw=False is msgpack's default (>= 1.0), not given again: each keyword is parsed on every call.
unpack: Callable[[Any], Any] = functools.partial(msgpack.unpackb, timestamp=3, strict_map_key=False,
                                                 ext_hook=_ext_hook)


def unpack_error(buffer: Any) -> Any:
    """An error document with its strings as bytes: errors.from_document decodes each without ever failing."""
    return msgpack.unpackb(buffer, raw=True, timestamp=3, strict_map_key=False)
