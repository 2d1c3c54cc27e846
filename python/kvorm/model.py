"""A model accessor: db.User. Each op of the request protocol is a method; arguments are the protocol's, in
snake_case (order_by, skip_duplicates, refuse_scans; _count, _sum and the other aggregates keep their names).
Only argument names are converted: the values (where, data, order_by, by, having, cursor, select) hold field
names, which are the schema's and go as they are. Ops the core gains later work at once through the generic path
(db.User.some_op(...) sends op "someOp"), and `call` sends any op by its protocol name."""
import functools
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ._codec import pack_value, request_head
from ._names import camel

if TYPE_CHECKING:
    from .db import Db

Record = Dict[str, Any]
Where = Mapping[str, Any]
Data = Mapping[str, Any]
Select = Mapping[str, Any]  # field -> bool; a relation -> bool or {"select", "include"}
Include = Mapping[str, Any]  # relation -> True or {"select": ..., "include": ...}
OrderBy = Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]
Aggregates = Union[bool, Mapping[str, bool]]


def explain_args(op: str, args: Optional[Mapping[str, Any]], more: Mapping[str, Any]) -> Dict[str, Any]:
    """The args of explain: the query op by its protocol name (find_many or findMany), and its own args with their
    names converted as for the op itself (given as a dict, as keyword arguments, or both)."""
    merged = dict(args or {})
    merged.update(more)
    return {"op": camel(op), "args": {camel(name): value for name, value in merged.items() if value is not None}}


class Model:
    """The operations on one model. Records are plain dicts; arguments left to None are not sent."""

    __slots__ = ("_db", "name", "_find_unique_head")

    def __init__(self, db: "Db", name: str) -> None:
        self._db = db
        self.name = name
        self._find_unique_head = request_head(name, "findUnique", "where")

    def __repr__(self) -> str:
        return "<kvorm model %s>" % self.name

    def call(self, op: str, /, **args: Any) -> Any:
        """Sends op (the protocol's name, e.g. "findUnique") with args (snake_case names are turned into the
        protocol's camelCase) and returns the result. op is positional only, so that explain's own `op` argument
        can go as a keyword."""
        return self._db._request(self.name, op, args)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.call, camel(name))

    def create(self, *, data: Data, select: Optional[Select] = None, include: Optional[Include] = None) -> Record:
        """Creates a record and returns it (ValidationError, UniqueViolation). Relation names in data write related
        records in the same call (docs/queries.md, Nested writes); include loads relations into the result."""
        return self.call("create", data=data, select=select, include=include)

    def find_unique(self, *, where: Where, select: Optional[Select] = None,
                    include: Optional[Include] = None) -> Optional[Record]:
        """The record that `where` (the id, a unique field or a compound unique) names, or None. include (or
        relation keys in select) loads its relations (docs/queries.md, Relations)."""
        if select is None and include is None and where is not None:
            # the hot path: only the where is packed; the generic path names a value that cannot be sent
            try:
                request = self._find_unique_head + pack_value(where)
            except Exception:  # noqa: BLE001
                return self.call("findUnique", where=where)
            return self._db._result_of(request)
        return self.call("findUnique", where=where, select=select, include=include)

    def find_unique_or_throw(self, *, where: Where, select: Optional[Select] = None,
                             include: Optional[Include] = None) -> Record:
        """The record that `where` names; NotFound if there is none."""
        return self.call("findUniqueOrThrow", where=where, select=select, include=include)

    def update(self, *, where: Where, data: Data, select: Optional[Select] = None,
               if_version: Optional[int] = None, include: Optional[Include] = None) -> Record:
        """Changes the given fields and returns the record (NotFound, Conflict when if_version differs). Relation
        names in data are nested writes, done in the same all-or-nothing call."""
        return self.call("update", where=where, data=data, select=select, if_version=if_version, include=include)

    def upsert(self, *, where: Where, create: Data, update: Data, select: Optional[Select] = None) -> Record:
        """Updates the record `where` names with `update`, or creates it from `create`; returns it."""
        return self.call("upsert", where=where, create=create, update=update, select=select)

    def delete(self, *, where: Where, select: Optional[Select] = None, if_version: Optional[int] = None,
               in_chunks: Optional[bool] = None) -> Record:
        """Deletes the record and returns it as it was (NotFound, Conflict when if_version differs). in_chunks=True:
        a cascade larger than one atomic write is written in chunks, deepest first (docs/schema.md)."""
        return self.call("delete", where=where, select=select, if_version=if_version, in_chunks=in_chunks)

    # The query ops (docs/queries.md). refuse_scans=True fails a query no index serves with Refused; False allows
    # the scan even on a db opened with refuse_scans=True.

    def find_many(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                  take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                  select: Optional[Select] = None, refuse_scans: Optional[bool] = None,
                  include: Optional[Include] = None) -> List[Record]:
        """The records that match `where`, in `order_by` order (then by id), paged by skip/take/cursor."""
        return self.call("findMany", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                         select=select, refuse_scans=refuse_scans, include=include)

    def find_first(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                   take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                   select: Optional[Select] = None, refuse_scans: Optional[bool] = None,
                   include: Optional[Include] = None) -> Optional[Record]:
        """The first record find_many would return, or None."""
        return self.call("findFirst", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                         select=select, refuse_scans=refuse_scans, include=include)

    def find_first_or_throw(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                            take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                            select: Optional[Select] = None, refuse_scans: Optional[bool] = None,
                            include: Optional[Include] = None) -> Record:
        """The first record find_many would return; NotFound if there is none."""
        return self.call("findFirstOrThrow", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                         select=select, refuse_scans=refuse_scans, include=include)

    def count(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None, take: Optional[int] = None,
              skip: Optional[int] = None, cursor: Optional[Where] = None,
              refuse_scans: Optional[bool] = None) -> int:
        """The number of records that match `where` (all of them without it)."""
        return self.call("count", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                         refuse_scans=refuse_scans)

    def aggregate(self, *, where: Optional[Where] = None, order_by: Optional[OrderBy] = None,
                  take: Optional[int] = None, skip: Optional[int] = None, cursor: Optional[Where] = None,
                  _count: Optional[Aggregates] = None, _min: Optional[Mapping[str, bool]] = None,
                  _max: Optional[Mapping[str, bool]] = None, _sum: Optional[Mapping[str, bool]] = None,
                  _avg: Optional[Mapping[str, bool]] = None, refuse_scans: Optional[bool] = None) -> Dict[str, Any]:
        """{"_count": n, "_sum": {"field": v}, ...} over the matching records, with only the asked keys."""
        return self.call("aggregate", where=where, order_by=order_by, take=take, skip=skip, cursor=cursor,
                         _count=_count, _min=_min, _max=_max, _sum=_sum, _avg=_avg, refuse_scans=refuse_scans)

    def group_by(self, *, by: Union[str, Sequence[str]], where: Optional[Where] = None,
                 having: Optional[Mapping[str, Any]] = None, order_by: Optional[OrderBy] = None,
                 take: Optional[int] = None, skip: Optional[int] = None, _count: Optional[Aggregates] = None,
                 _min: Optional[Mapping[str, bool]] = None, _max: Optional[Mapping[str, bool]] = None,
                 _sum: Optional[Mapping[str, bool]] = None, _avg: Optional[Mapping[str, bool]] = None,
                 refuse_scans: Optional[bool] = None) -> List[Dict[str, Any]]:
        """One map per group of `by` values: those values and the asked aggregates."""
        return self.call("groupBy", by=by, where=where, having=having, order_by=order_by, take=take, skip=skip,
                         _count=_count, _min=_min, _max=_max, _sum=_sum, _avg=_avg, refuse_scans=refuse_scans)

    def create_many(self, *, data: Sequence[Data], skip_duplicates: Optional[bool] = None) -> Dict[str, int]:
        """Creates the records: {"count": n}. skip_duplicates=True skips (and does not count) a record whose id or
        unique value is taken instead of failing with UniqueViolation."""
        return self.call("createMany", data=data, skip_duplicates=skip_duplicates)

    def update_many(self, *, data: Data, where: Optional[Where] = None) -> Dict[str, int]:
        """Sets `data` on every matching record: {"count": n}."""
        return self.call("updateMany", where=where, data=data)

    def delete_many(self, *, where: Optional[Where] = None, refuse_scans: Optional[bool] = None,
                    in_chunks: Optional[bool] = None) -> Dict[str, int]:
        """Deletes every matching record: {"count": n}."""
        return self.call("deleteMany", where=where, refuse_scans=refuse_scans, in_chunks=in_chunks)

    def explain(self, op: str, args: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Dict[str, Any]:
        """The plan of a query op without running it: explain("find_many", where={...}, order_by={...})."""
        return self.call("explain", **explain_args(op, args, kwargs))

    def check(self) -> Dict[str, Any]:
        """The integrity report of the model's indexes and unique entries ({"ok": bool, "problems": [...]})."""
        return self.call("check")

    def reindex(self, *, index: Optional[str] = None, chunk: Optional[int] = None) -> Dict[str, Any]:
        """Builds an index (default: every index not ready) in chunks: {"built": [names], "records": n}."""
        return self.call("reindex", index=index, chunk=chunk)
