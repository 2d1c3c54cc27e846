"""kvorm.open and the Db handle: one kvorm_db of the core, its models as attributes, guarded against close."""
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _schema
from ._codec import pack_request, pack_value, request_prefix, unpack, unpack_error
from ._guard import CallGuard
from ._names import camel
from ._native import ffi, last_error, lib
from ._models import ModelsByName
from .errors import Error, from_document
from .model import Model


_SYNC = {"full": 1, "nosync": 2, "nometasync": 3}  # KVORM_SYNC_FULL, _NOSYNC, _NOMETASYNC


def _positive(name: str, value: Any, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < limit:
        raise ValueError("kvorm.open: %s must be a positive int below %d, not %r" % (name, limit, value))
    return value


def _options(connect_timeout_ms: Optional[int] = None, command_timeout_ms: Optional[int] = None,
             pool_size: Optional[int] = None, refuse_scans: Optional[bool] = False, map_size: Optional[int] = None,
             max_map_size: Optional[int] = None, sync: Optional[str] = None, read_only: Optional[bool] = None,
             max_readers: Optional[int] = None) -> Any:
    opts = ffi.new("kvorm_open_options *")
    if lib.kvorm_open_options_init(opts, lib.KVORM_OPEN_OPTIONS_VERSION) != 0:
        raise last_error()
    for name, value, limit in (("connect_timeout_ms", connect_timeout_ms, 1 << 31),
                               ("command_timeout_ms", command_timeout_ms, 1 << 31),
                               ("pool_size", pool_size, 1 << 31), ("max_readers", max_readers, 1 << 31),
                               ("map_size", map_size, 1 << 63), ("max_map_size", max_map_size, 1 << 63)):
        if value is not None:
            setattr(opts, name, _positive(name, value, limit))  # the core checks the bounds of each store
    if refuse_scans is None:
        refuse_scans = False
    if not isinstance(refuse_scans, bool):
        raise ValueError("kvorm.open: refuse_scans must be True or False, not %r" % (refuse_scans,))
    opts.refuse_scans = int(refuse_scans)
    if sync is not None:
        if sync not in _SYNC:
            raise ValueError("kvorm.open: sync must be 'full', 'nosync' or 'nometasync', not %r" % (sync,))
        opts.sync = _SYNC[sync]
    if read_only is not None:
        if not isinstance(read_only, bool):
            raise ValueError("kvorm.open: read_only must be True or False, not %r" % (read_only,))
        opts.read_only = int(read_only)
    return opts


# Requests per kvorm_exec_batch in Db.batch, as in the asyncio batches (aio.py).
_BATCH_SIZE = 128


def encode_request(model: Optional[str], op: str, args: Mapping[str, Any]) -> bytes:
    """The request document of op with args (snake_case names become the protocol's camelCase; None is left out).
    The op and model are packed once per pair; the args each time."""
    body = {camel(name): value for name, value in args.items() if value is not None}
    prefix = request_prefix(model, op)
    try:
        return prefix + pack_value(body)
    except Exception:  # noqa: BLE001  (packed again whole, for the error that names where the bad value is)
        request: Dict[str, Any] = {"op": op} if model is None else {"op": op, "model": model}
        request["args"] = body
        return pack_request(request)


def result_of(status: int, document: Any) -> Any:
    """The result of a response (its values already of their Python types: _codec.unpack), or its error document
    raised as an exception."""
    if status != 0:
        raise from_document(document, _status_name(status))
    return document


def _status_name(status: int) -> str:
    return ffi.string(lib.kvorm_error_name(status)).decode("utf-8", "replace")


def _decode(status: int, buffer: Any, length: int) -> Tuple[int, Any]:
    """A response of the core as (status, document), without freeing it. Never raises: an error document is
    read with its strings as bytes (errors.from_document decodes them, replacing invalid UTF-8), and a response
    that cannot be read becomes an error document itself, so a bad response fails its own request only."""
    if buffer == ffi.NULL:
        return (status or lib.KVORM_EINTERNAL), {"code": _status_name(status or lib.KVORM_EINTERNAL),
                                                 "message": "the core returned no response document"}
    try:
        if status != 0:
            return status, unpack_error(ffi.buffer(buffer, length))
        return status, unpack(ffi.buffer(buffer, length))
    except Exception as e:  # noqa: BLE001  (any decoding failure is this request's error, not the caller's crash)
        failed = status or lib.KVORM_EINTERNAL
        what = "error document" if status else "response"
        return failed, {"code": _status_name(failed), "message": "kvorm: cannot read the %s of the core: %s: %s"
                        % (what, type(e).__name__, e)}


_outs = threading.local()


def _out_params() -> Tuple[Any, Any]:
    """This thread's out-params of kvorm_exec, made once: a call reads them before this thread makes another."""
    try:
        return _outs.pair
    except AttributeError:
        _outs.pair = (ffi.new("unsigned char **"), ffi.new("size_t *"))
        return _outs.pair


def _take(buffer: Any, length: int) -> Any:
    """Unpacks a result buffer of the core (status OK) and frees it."""
    try:
        return unpack(ffi.buffer(buffer, length))
    finally:
        lib.kvorm_free(buffer)


class Db(ModelsByName[Model]):
    """An open store. Models are attributes (db.User) or items (db["User"]). Safe to share between threads:
    calls release the GIL and run in parallel on the core's connection pool."""

    def __init__(self, handle: Any, model_names: Sequence[str]) -> None:
        self._handle = handle
        self._guard = CallGuard()
        self._models: Dict[str, Model] = {name: Model(self, name) for name in model_names}
        self._expose_models()

    @property
    def closed(self) -> bool:
        return self._guard.closed

    def batch(self, requests: Sequence[Sequence[Any]]) -> List[Any]:
        """Runs several requests together, in order, each (model, op) or (model, op, args) as a model method takes
        them (op and args in snake_case or the protocol's camelCase; model None for capabilities): on Redis their
        store work goes in one round trip per 128. Not a transaction: each has its own outcome, and the list holds,
        in order, each result or, for one that failed, its exception (a kvorm.Error), not raised."""
        outcomes: List[Any] = [None] * len(requests)
        packed: List[bytes] = []
        where: List[int] = []
        for i, request in enumerate(requests):
            if not isinstance(request, (tuple, list)) or len(request) not in (2, 3):
                raise TypeError("Db.batch: each request is (model, op) or (model, op, args), got %r" % (request,))
            model, op = request[0], request[1]
            args = request[2] if len(request) == 3 and request[2] is not None else {}
            if not isinstance(op, str) or not isinstance(args, Mapping):
                raise TypeError("Db.batch: op must be a str and args a mapping, got %r" % (request,))
            try:
                packed.append(encode_request(model, camel(op), args))
                where.append(i)
            except Error as e:  # a value that cannot be sent is that request's outcome; the others still go
                outcomes[i] = e
        for start in range(0, len(packed), _BATCH_SIZE):
            try:
                chunk = self._exec_batch(packed[start:start + _BATCH_SIZE])
            except Error as e:  # this chunk and those after it did not run (the db was closed, say)
                if start == 0:
                    raise  # nothing ran: as any call
                for k in range(start, len(packed)):  # the chunks before ran: their outcomes stand
                    outcomes[where[k]] = e
                break
            for k, (status, document) in enumerate(chunk):
                outcomes[where[start + k]] = document if status == 0 else from_document(document,
                                                                                        _status_name(status))
        return outcomes

    @property
    def capabilities(self) -> Dict[str, Any]:
        """What the engine guarantees (docs/protocol.md#capabilities)."""
        out = ffi.new("unsigned char **")
        out_len = ffi.new("size_t *")
        self._guard.enter()
        try:
            status = lib.kvorm_capabilities(out, out_len, self._handle)
            if status != 0:
                raise last_error()
            return _take(out[0], out_len[0])
        finally:
            self._guard.leave()

    def _request(self, model: Optional[str], op: str, args: Mapping[str, Any]) -> Any:
        """Runs op and returns its result, or raises its error: the path of every model method."""
        return self._result_of(encode_request(model, op, args))

    def _result_of(self, request: bytes) -> Any:
        """Runs one packed request: its result, or its error raised. _run and the decoding written out in one
        function, because this is every model method's path and each Python call on it costs (benchmarks/python)."""
        try:
            out, out_len = _outs.pair
        except AttributeError:
            out, out_len = _out_params()
        guard = self._guard
        running = guard.running
        running.append(None)  # guard.enter() and guard.leave() written out (CallGuard says how)
        try:
            if guard.closed:
                raise guard.closed_error()
            status = lib.kvorm_exec(out, out_len, self._handle, request, len(request))
        finally:
            running.pop()
            if guard.closed:
                guard.wake_closer()
        buffer = out[0]
        if buffer == ffi.NULL:
            raise last_error()
        length = out_len[0]
        try:
            if status == 0:
                try:
                    return unpack(ffi.buffer(buffer, length))
                except Exception:  # noqa: BLE001  (said as _decode says it, below)
                    pass
            status, document = _decode(status, buffer, length)
        finally:
            lib.kvorm_free(buffer)
        raise from_document(document, _status_name(status))

    def _exec(self, request: bytes) -> Tuple[int, Any]:
        """Runs one MessagePack request: its status and its response document (the result or the error)."""
        status, buffer, length = self._run(request)
        try:
            return _decode(status, buffer, length)
        finally:
            lib.kvorm_free(buffer)

    def _run(self, request: bytes) -> Tuple[int, Any, int]:
        """kvorm_exec of one request under the guard: its status and the response buffer (the caller frees it)."""
        out, out_len = _out_params()
        guard = self._guard
        guard.enter()
        try:
            status = lib.kvorm_exec(out, out_len, self._handle, request, len(request))
        finally:
            guard.leave()
        if out[0] == ffi.NULL:
            raise last_error()
        return status, out[0], out_len[0]

    def _exec_batch(self, requests: List[bytes]) -> List[Tuple[int, Any]]:
        """Runs the requests with kvorm_exec_batch (in order, their store work in one round trip): each one's
        status and response document. One response that cannot be read is that request's error only; every
        response buffer is freed whatever happens."""
        n = len(requests)
        buffers = [ffi.from_buffer(r) for r in requests]  # kept alive for the call
        pointers = ffi.new("const void *[]", buffers)
        lens = ffi.new("size_t[]", [len(r) for r in requests])
        outs = ffi.new("unsigned char *[]", n)  # zeroed: kvorm_free(NULL) is a no-op for what the core leaves unset
        out_lens = ffi.new("size_t[]", n)
        statuses = ffi.new("int[]", n)
        self._guard.enter()
        try:
            status = lib.kvorm_exec_batch(outs, out_lens, statuses, self._handle, pointers, lens, n)
        finally:
            self._guard.leave()
        try:
            if status != 0:
                raise last_error()
            return [_decode(statuses[i], outs[i], out_lens[i]) for i in range(n)]
        finally:
            for i in range(n):
                lib.kvorm_free(outs[i])

    def close(self) -> None:
        """Waits for the calls in flight, then closes the store. Idempotent; later calls raise MisuseError."""
        if self._guard.close():
            ffi.release(self._handle)  # runs kvorm_close now rather than at garbage collection

    def __enter__(self) -> "Db":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<kvorm db %s, models %s>" % ("closed" if self.closed else "open", ", ".join(self._models))


def open(url: Optional[str] = None, schema: Optional["_schema.SchemaSource"] = None, *,
         connect_timeout_ms: Optional[int] = None, command_timeout_ms: Optional[int] = None,
         pool_size: Optional[int] = None, refuse_scans: bool = False, map_size: Optional[int] = None,
         max_map_size: Optional[int] = None, sync: Optional[str] = None, read_only: Optional[bool] = None,
         max_readers: Optional[int] = None) -> Db:
    """Opens a store by URL (redis://[user:password@]host[:port][/db], unix:///path/to/redis.sock[?db=n],
    lmdb:///abs/dir or lmdb://relative/dir) with a schema given as a path, a dict or JSON text. With no URL
    (kvorm.open(schema=...)), the URL in KVORM_URL, else lmdb://kvorm-data: an embedded store in the working
    directory. refuse_scans=True makes every query that no index serves fail with Refused (unless it passes
    refuse_scans=False). The embedded store's options (lmdb:// only; each wins over the URL parameter): map_size
    and max_map_size in bytes, sync ('full', the default, 'nosync' or 'nometasync'), read_only, max_readers.
    Raises SchemaError, SchemaMismatch, ConnectionError, TimeoutError, or MisuseError for an
    invalid URL."""
    if schema is None:
        raise TypeError("kvorm.open: a schema is required (a path, a dict or JSON text)")
    if url is not None and not isinstance(url, str):
        raise TypeError("kvorm.open: the url must be a str, or None for the default store")
    opts = _options(connect_timeout_ms, command_timeout_ms, pool_size, refuse_scans, map_size, max_map_size, sync,
                    read_only, max_readers)  # bad options fail first
    native_schema, model_names = _schema.load(schema)
    out = ffi.new("kvorm_db **")
    # surrogatepass: a URL holding a lone surrogate reaches the core as invalid text, which it refuses (MISUSE)
    native_url = ffi.NULL if url is None else url.encode("utf-8", "surrogatepass")
    status = lib.kvorm_open(out, native_url, native_schema, opts)
    ffi.release(native_schema)  # the db keeps its own reference
    if status != 0:
        raise last_error()
    return Db(ffi.gc(out[0], lib.kvorm_close), model_names)
