"""asyncio: the same API with awaitable methods. The requests made in one turn of the event loop go to the core
together, as one kvorm_exec_batch on a thread of the db's own executor (their store work in one round trip), so
the event loop keeps running while the store answers and many awaits in flight cost little.

    async with kvorm.aio.open(url, schema=...) as db:       # or: db = await kvorm.aio.open(...)
        user = await db.User.create(data={...})
"""
import asyncio
import concurrent.futures
import copy
import functools
from typing import Any, Awaitable, Callable, Dict, Generator, List, Mapping, Optional, Sequence, Tuple, Union

from . import db as _db
from ._schema import SchemaSource
from ._models import ModelsByName
from ._names import camel
from .errors import MisuseError
from .model import Aggregates, Data, Include, Model, OrderBy, Record, Select, Where, explain_args

_DEFAULT_POOL_SIZE = 8  # the core's default


# What kvorm_exec_batch sends in one round trip; more requests in one turn of the loop make several batches.
_BATCH_SIZE = 128


class _Batcher:
    """Collects the requests made in one turn of an event loop and runs them as one kvorm_exec_batch on the db's
    executor: one thread hop and one round trip for them all instead of one each."""

    def __init__(self, sync_db: _db.Db, executor: concurrent.futures.Executor) -> None:
        self._db = sync_db
        self._executor = executor
        self._pending: Dict[asyncio.AbstractEventLoop, List[Tuple[bytes, "asyncio.Future[Any]"]]] = {}

    def submit(self, request: bytes) -> "asyncio.Future[Any]":
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.setdefault(loop, [])
        if not pending:
            loop.call_soon(self._flush, loop)
        pending.append((request, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending.pop(loop, [])
        for start in range(0, len(pending), _BATCH_SIZE):
            chunk = pending[start:start + _BATCH_SIZE]
            try:
                done = loop.run_in_executor(self._executor, self._db._exec_batch, [r for r, _ in chunk])
            except RuntimeError:  # the executor is shut down: the db was closed
                self._fail(chunk, MisuseError("the db is closed: open it again to make calls"))
                continue
            done.add_done_callback(functools.partial(self._deliver, chunk))

    @staticmethod
    def _fail(chunk: List[Tuple[bytes, "asyncio.Future[Any]"]], error: BaseException) -> None:
        """Fails every request of the chunk (the batch did not run), each with its own copy of the exception, so
        that one awaiter's traceback never shows up in another's."""
        for _, future in chunk:
            if not future.done():
                try:
                    own = copy.copy(error)
                except Exception:  # noqa: BLE001  (an exception that cannot be copied is shared)
                    own = error
                future.set_exception(own)

    def _deliver(self, chunk: List[Tuple[bytes, "asyncio.Future[Any]"]],
                 done: "asyncio.Future[List[Tuple[int, Any]]]") -> None:
        if done.cancelled():  # the loop is shutting down
            for _, future in chunk:
                future.cancel()
            return
        error = done.exception()
        if error is not None:  # the batch did not run: MisuseError once the db is closed
            self._fail(chunk, error)
            return
        # One outcome per request: _exec_batch turns a response it cannot read into that request's error, and
        # whatever goes wrong turning one response into a result fails that await alone.
        for (status, document), (_, future) in zip(done.result(), chunk):
            if future.done():  # cancelled by its caller
                continue
            try:
                outcome = _db.result_of(status, document)
            except Exception as failure:  # noqa: BLE001  (the request's own error)
                future.set_exception(failure)
            else:
                future.set_result(outcome)


class AsyncModel:
    """Awaitable twin of kvorm.Model."""

    __slots__ = ("_batcher", "name")

    def __init__(self, model: Model, batcher: _Batcher) -> None:
        self._batcher = batcher
        self.name = model.name

    def __repr__(self) -> str:
        return "<kvorm async model %s>" % self.name

    async def call(self, op: str, /, **args: Any) -> Any:
        """Sends op (the protocol's name, e.g. "findUnique") with args (snake_case names are turned into the
        protocol's camelCase) and returns the result. op is positional only, so that explain's own `op` argument
        can go as a keyword."""
        request = _db.encode_request(self.name, op, args)  # bad values raise here, before anything is sent
        return await self._batcher.submit(request)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.call, camel(name))

    async def create(self, *, data: Data, select: Optional[Select] = None,
                     include: Optional[Include] = None) -> Record:
        return await self.call("create", data=data, select=select, include=include)

    async def find_unique(self, *, where: Where, select: Optional[Select] = None,
                          include: Optional[Include] = None) -> Optional[Record]:
        return await self.call("findUnique", where=where, select=select, include=include)

    async def find_unique_or_throw(self, *, where: Where, select: Optional[Select] = None,
                                   include: Optional[Include] = None) -> Record:
        return await self.call("findUniqueOrThrow", where=where, select=select, include=include)

    async def update(self, *, where: Where, data: Data, select: Optional[Select] = None,
                     if_version: Optional[int] = None, include: Optional[Include] = None) -> Record:
        return await self.call("update", where=where, data=data, select=select, if_version=if_version,
                               include=include)

    async def upsert(self, *, where: Where, create: Data, update: Data, select: Optional[Select] = None) -> Record:
        return await self.call("upsert", where=where, create=create, update=update, select=select)

    async def delete(self, *, where: Where, select: Optional[Select] = None,
                     if_version: Optional[int] = None, in_chunks: Optional[bool] = None) -> Record:
        return await self.call("delete", where=where, select=select, if_version=if_version, in_chunks=in_chunks)

    async def find_many(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                        take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                        select: Optional[Select] = None, refuse_scans: Optional[bool] = None,
                        include: Optional[Include] = None) -> List[Record]:
        return await self.call("findMany", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                               select=select, refuse_scans=refuse_scans, include=include)

    async def find_first(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                         take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                         select: Optional[Select] = None, refuse_scans: Optional[bool] = None,
                         include: Optional[Include] = None) -> Optional[Record]:
        return await self.call("findFirst", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                               select=select, refuse_scans=refuse_scans, include=include)

    async def find_first_or_throw(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                                  take: Optional[int] = None, skip: Optional[int] = None,
                                  cursor: Optional[Where] = None, select: Optional[Select] = None,
                                  refuse_scans: Optional[bool] = None, include: Optional[Include] = None) -> Record:
        return await self.call("findFirstOrThrow", where=where, order_by=order_by, take=take, skip=skip,
                               cursor=cursor, select=select, refuse_scans=refuse_scans, include=include)

    async def count(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                    take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                    refuse_scans: Optional[bool] = None) -> int:
        return await self.call("count", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                               refuse_scans=refuse_scans)

    async def aggregate(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                        take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                        _count: Optional[Aggregates] = None, _min: Optional[Mapping[str, bool]] = None,
                        _max: Optional[Mapping[str, bool]] = None, _sum: Optional[Mapping[str, bool]] = None,
                        _avg: Optional[Mapping[str, bool]] = None,
                        refuse_scans: Optional[bool] = None) -> Dict[str, Any]:
        return await self.call("aggregate", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                               _count=_count, _min=_min, _max=_max, _sum=_sum, _avg=_avg, refuse_scans=refuse_scans)

    async def group_by(self, *, by: Union[str, Sequence[str]], where: Optional[Where] = None,
                       having: Optional[Mapping[str, Any]] = None, order_by: Optional[OrderBy] = None,
                       take: Optional[int] = None, skip: Optional[int] = None, _count: Optional[Aggregates] = None,
                       _min: Optional[Mapping[str, bool]] = None, _max: Optional[Mapping[str, bool]] = None,
                       _sum: Optional[Mapping[str, bool]] = None, _avg: Optional[Mapping[str, bool]] = None,
                       refuse_scans: Optional[bool] = None) -> List[Dict[str, Any]]:
        return await self.call("groupBy", by=by, where=where, having=having, order_by=order_by, take=take,
                               skip=skip, _count=_count, _min=_min, _max=_max, _sum=_sum, _avg=_avg,
                               refuse_scans=refuse_scans)

    async def create_many(self, *, data: Sequence[Data], skip_duplicates: Optional[bool] = None) -> Dict[str, int]:
        return await self.call("createMany", data=data, skip_duplicates=skip_duplicates)

    async def update_many(self, *, data: Data, where: Optional[Where] = None) -> Dict[str, int]:
        return await self.call("updateMany", where=where, data=data)

    async def delete_many(self, *, where: Optional[Where] = None, refuse_scans: Optional[bool] = None,
                          in_chunks: Optional[bool] = None) -> Dict[str, int]:
        return await self.call("deleteMany", where=where, refuse_scans=refuse_scans, in_chunks=in_chunks)

    async def explain(self, op: str, args: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Dict[str, Any]:
        return await self.call("explain", **explain_args(op, args, kwargs))

    async def check(self) -> Dict[str, Any]:
        return await self.call("check")

    async def reindex(self, *, index: Optional[str] = None, chunk: Optional[int] = None) -> Dict[str, Any]:
        return await self.call("reindex", index=index, chunk=chunk)


class AsyncDb(ModelsByName[AsyncModel]):
    """Awaitable twin of kvorm.Db: models as attributes or items, `await db.close()`, `async with`."""

    def __init__(self, sync_db: _db.Db, workers: int) -> None:
        self.sync = sync_db
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kvorm")
        batcher = _Batcher(sync_db, self._executor)
        self._models: Dict[str, AsyncModel] = {name: AsyncModel(sync_db[name], batcher) for name in sync_db.models}
        self._expose_models()

    @property
    def closed(self) -> bool:
        return self.sync.closed

    @property
    def capabilities(self) -> Dict[str, Any]:
        """What the engine guarantees; answered locally, without a round trip."""
        return self.sync.capabilities

    async def batch(self, requests: Sequence[Sequence[Any]]) -> List[Any]:
        """kvorm.Db.batch, awaited: the requests run together on a thread of the db's executor; each result, or
        for one that failed its exception, in order."""
        try:
            done = asyncio.get_running_loop().run_in_executor(self._executor, self.sync.batch, requests)
        except RuntimeError:  # the executor is shut down: the db was closed
            raise MisuseError("the db is closed: open it again to make calls") from None
        return await done

    async def close(self) -> None:
        """Waits for the calls in flight, then closes the store. Idempotent."""
        await asyncio.get_running_loop().run_in_executor(None, self.sync.close)
        self._executor.shutdown(wait=False)

    async def __aenter__(self) -> "AsyncDb":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class _Opening:
    """What aio.open returns: awaitable (db = await open(...)) and an async context manager."""

    def __init__(self, url: Optional[str], schema: Optional[SchemaSource], options: Dict[str, Any]) -> None:
        self._args = (url, schema, options)
        self._db: Optional[AsyncDb] = None

    async def _open(self) -> AsyncDb:
        url, schema, options = self._args
        sync_db = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(_db.open, url, schema, **options))
        return AsyncDb(sync_db, options.get("pool_size") or _DEFAULT_POOL_SIZE)

    def __await__(self) -> Generator[Any, None, AsyncDb]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncDb:
        self._db = await self._open()
        return self._db

    async def __aexit__(self, *exc: Any) -> None:
        if self._db is not None:
            await self._db.close()


def open(url: Optional[str] = None, schema: Optional[SchemaSource] = None, *,
         connect_timeout_ms: Optional[int] = None, command_timeout_ms: Optional[int] = None,
         pool_size: Optional[int] = None, refuse_scans: bool = False, map_size: Optional[int] = None,
         max_map_size: Optional[int] = None, sync: Optional[str] = None, read_only: Optional[bool] = None,
         max_readers: Optional[int] = None) -> _Opening:
    """Like kvorm.open, for asyncio: `db = await kvorm.aio.open(...)` or `async with kvorm.aio.open(...) as db`."""
    return _Opening(url, schema, {"connect_timeout_ms": connect_timeout_ms,
                                  "command_timeout_ms": command_timeout_ms, "pool_size": pool_size,
                                  "refuse_scans": refuse_scans, "map_size": map_size, "max_map_size": max_map_size,
                                  "sync": sync, "read_only": read_only, "max_readers": max_readers})
