"""kvorm: an ORM for Redis over the kvorm C core (docs/python.md).

    with kvorm.open("redis://127.0.0.1:6379/0", schema="app.schema.json") as db:
        user = db.User.create(data={"email": "ann@example.com", "name": "Ann"})
"""
from . import aio
from ._native import core_version
from .db import Db, open
from .errors import (BadRequest, Conflict, ConnectionError, Error, InternalError, MisuseError, NotFound, Refused,
                     RelationError, SchemaError, SchemaMismatch, TimeoutError, Unavailable, UniqueViolation,
                     Unsupported, ValidationError)
from .model import Model, Record

__version__ = "0.1.0"

__all__ = ["open", "aio", "Db", "Model", "Record", "core_version", "Error", "ValidationError", "NotFound",
           "UniqueViolation", "Conflict", "SchemaError", "SchemaMismatch", "BadRequest", "ConnectionError",
           "TimeoutError", "Unavailable", "Unsupported", "InternalError", "MisuseError", "Refused",
           "RelationError"]
