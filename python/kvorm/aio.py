"""asyncio: the same API with awaitable methods. Each call runs the blocking core call on a thread of the db's
own executor (one thread per pooled connection), so the event loop keeps running while the store answers.

    async with kvorm.aio.open(url, schema=...) as db:       # or: db = await kvorm.aio.open(...)
        user = await db.User.create(data={...})
"""
import asyncio
import concurrent.futures
import functools
from typing import Any, Awaitable, Callable, Dict, Generator, Optional

from . import db as _db
from ._schema import SchemaSource
from ._models import ModelsByName
from .errors import MisuseError
from .model import Data, Model, Record, Select, Where

_DEFAULT_POOL_SIZE = 8  # the core's default


class AsyncModel:
    """Awaitable twin of kvorm.Model."""

    __slots__ = ("_model", "_run", "name")

    def __init__(self, model: Model, run: Callable[..., Awaitable[Any]]) -> None:
        self._model = model
        self._run = run
        self.name = model.name

    def __repr__(self) -> str:
        return "<kvorm async model %s>" % self.name

    async def call(self, op: str, **args: Any) -> Any:
        return await self._run(functools.partial(self._model.call, op, **args))

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._model, name)

        async def run(**args: Any) -> Any:
            return await self._run(functools.partial(method, **args))
        return run

    async def create(self, *, data: Data, select: Optional[Select] = None) -> Record:
        return await self._run(functools.partial(self._model.create, data=data, select=select))

    async def find_unique(self, *, where: Where, select: Optional[Select] = None) -> Optional[Record]:
        return await self._run(functools.partial(self._model.find_unique, where=where, select=select))

    async def find_unique_or_throw(self, *, where: Where, select: Optional[Select] = None) -> Record:
        return await self._run(functools.partial(self._model.find_unique_or_throw, where=where, select=select))

    async def update(self, *, where: Where, data: Data, select: Optional[Select] = None,
                     if_version: Optional[int] = None) -> Record:
        return await self._run(functools.partial(self._model.update, where=where, data=data, select=select,
                                                 if_version=if_version))

    async def upsert(self, *, where: Where, create: Data, update: Data, select: Optional[Select] = None) -> Record:
        return await self._run(functools.partial(self._model.upsert, where=where, create=create, update=update,
                                                 select=select))

    async def delete(self, *, where: Where, select: Optional[Select] = None,
                     if_version: Optional[int] = None) -> Record:
        return await self._run(functools.partial(self._model.delete, where=where, select=select,
                                                 if_version=if_version))

    async def count(self, *, where: Optional[Where] = None) -> int:
        return await self._run(functools.partial(self._model.count, where=where))


class AsyncDb(ModelsByName[AsyncModel]):
    """Awaitable twin of kvorm.Db: models as attributes or items, `await db.close()`, `async with`."""

    def __init__(self, sync_db: _db.Db, workers: int) -> None:
        self.sync = sync_db
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kvorm")
        self._models: Dict[str, AsyncModel] = {name: AsyncModel(sync_db[name], self._run)
                                               for name in sync_db.models}

    async def _run(self, call: Callable[[], Any]) -> Any:
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        except RuntimeError:  # the executor is shut down: the db was closed
            raise MisuseError("the db is closed: open it again to make calls") from None
        return await future

    @property
    def closed(self) -> bool:
        return self.sync.closed

    @property
    def capabilities(self) -> Dict[str, Any]:
        """What the engine guarantees; answered locally, without a round trip."""
        return self.sync.capabilities

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

    def __init__(self, url: str, schema: SchemaSource, options: Dict[str, Optional[int]]) -> None:
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


def open(url: str, schema: SchemaSource, *, connect_timeout_ms: Optional[int] = None,
         command_timeout_ms: Optional[int] = None, pool_size: Optional[int] = None) -> _Opening:
    """Like kvorm.open, for asyncio: `db = await kvorm.aio.open(...)` or `async with kvorm.aio.open(...) as db`."""
    return _Opening(url, schema, {"connect_timeout_ms": connect_timeout_ms,
                                  "command_timeout_ms": command_timeout_ms, "pool_size": pool_size})
