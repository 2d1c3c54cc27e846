"""A model accessor: db.User. Each op of the request protocol is a method; arguments are the protocol's, in
snake_case. Ops the core gains later work at once through the generic path (db.User.find_many(...) sends
op "findMany"), and `call` sends any op by its protocol name."""
import functools
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Mapping, Optional

from ._names import camel

if TYPE_CHECKING:
    from .db import Db

Record = Dict[str, Any]
Where = Mapping[str, Any]
Data = Mapping[str, Any]
Select = Mapping[str, bool]


class Model:
    """The operations on one model. Records are plain dicts; arguments left to None are not sent."""

    __slots__ = ("_db", "name", "_decimal_fields")

    def __init__(self, db: "Db", name: str, decimal_fields: FrozenSet[str]) -> None:
        self._db = db
        self.name = name
        self._decimal_fields = decimal_fields

    def __repr__(self) -> str:
        return "<kvorm model %s>" % self.name

    def call(self, op: str, **args: Any) -> Any:
        """Sends op (the protocol's name, e.g. "findUnique") with args (snake_case names are turned into the
        protocol's camelCase) and returns the result."""
        return self._db._request(self.name, op, args, self._decimal_fields)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.call, camel(name))

    def create(self, *, data: Data, select: Optional[Select] = None) -> Record:
        """Creates a record and returns it (ValidationError, UniqueViolation)."""
        return self.call("create", data=data, select=select)

    def find_unique(self, *, where: Where, select: Optional[Select] = None) -> Optional[Record]:
        """The record that `where` (the id, a unique field or a compound unique) names, or None."""
        return self.call("findUnique", where=where, select=select)

    def find_unique_or_throw(self, *, where: Where, select: Optional[Select] = None) -> Record:
        """The record that `where` names; NotFound if there is none."""
        return self.call("findUniqueOrThrow", where=where, select=select)

    def update(self, *, where: Where, data: Data, select: Optional[Select] = None,
               if_version: Optional[int] = None) -> Record:
        """Changes the given fields and returns the record (NotFound, Conflict when if_version differs)."""
        return self.call("update", where=where, data=data, select=select, if_version=if_version)

    def upsert(self, *, where: Where, create: Data, update: Data, select: Optional[Select] = None) -> Record:
        """Updates the record `where` names with `update`, or creates it from `create`; returns it."""
        return self.call("upsert", where=where, create=create, update=update, select=select)

    def delete(self, *, where: Where, select: Optional[Select] = None, if_version: Optional[int] = None) -> Record:
        """Deletes the record and returns it as it was (NotFound, Conflict when if_version differs)."""
        return self.call("delete", where=where, select=select, if_version=if_version)

    def count(self, *, where: Optional[Where] = None) -> int:
        """The number of records of the model (a non-empty where is Unsupported until the query engine)."""
        return self.call("count", where=where)
