"""Loading a schema given as a path, a dict or JSON text, into the core and into what Python needs of it.

The response documents do not say which strings are decimals, so the binding keeps, per model, the names of its
decimal fields (from the schema) to hand them back as decimal.Decimal. Every other type is told apart by its
MessagePack type (bin -> bytes, timestamp -> datetime).
"""
import json
import os
from typing import Any, Dict, FrozenSet, Mapping, Tuple, Union

from ._native import ffi, last_error, lib
from .errors import SchemaError

SchemaSource = Union[str, bytes, "os.PathLike[str]", Mapping[str, Any]]


def _looks_like_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _decimal_fields(document: Any) -> Dict[str, FrozenSet[str]]:
    models = document.get("models") if isinstance(document, dict) else None
    result: Dict[str, FrozenSet[str]] = {}
    for name, model in (models or {}).items():
        fields = model.get("fields") if isinstance(model, dict) else None
        result[name] = frozenset(f for f, spec in (fields or {}).items()
                                 if isinstance(spec, dict) and spec.get("type") == "decimal")
    return result


def load(schema: SchemaSource) -> Tuple[Any, Dict[str, FrozenSet[str]]]:
    """(the core's kvorm_schema *, freed when garbage collected; model name -> its decimal field names)."""
    out = ffi.new("kvorm_schema **")
    if isinstance(schema, Mapping):
        text = json.dumps(schema).encode()
    elif isinstance(schema, bytes):
        text = schema
    elif isinstance(schema, str) and _looks_like_json(schema):
        text = schema.encode()
    elif isinstance(schema, (str, os.PathLike)):
        path = os.fsencode(schema)
        if lib.kvorm_schema_from_file(out, path) != 0:
            raise last_error()
        with open(path, "rb") as f:
            text = f.read()
        return ffi.gc(out[0], lib.kvorm_schema_free), _decimal_fields(json.loads(text))
    else:
        raise TypeError("kvorm: schema must be a path, a dict or JSON text, not %s" % type(schema).__name__)
    if lib.kvorm_schema_from_json(out, text, len(text)) != 0:
        raise last_error()
    try:
        document = json.loads(text)
    except ValueError as e:  # the core accepted it, so this should not happen
        raise SchemaError("schema is not JSON: %s" % e) from e
    return ffi.gc(out[0], lib.kvorm_schema_free), _decimal_fields(document)
