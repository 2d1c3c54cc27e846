"""Loading a schema given as a path, a dict or JSON text, into the core and into what Python needs of it: the
model names, for the accessors (db.User). Response values carry their own types (a decimal is the core's
extension type 1), so nothing else of the schema is read here."""
import json
import os
from typing import Any, Mapping, Tuple, Union

from ._native import ffi, last_error, lib
from .errors import SchemaError

SchemaSource = Union[str, bytes, "os.PathLike[str]", Mapping[str, Any]]


def _looks_like_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _model_names(document: Any) -> Tuple[str, ...]:
    models = document.get("models") if isinstance(document, dict) else None
    return tuple(models or ())


def load(schema: SchemaSource) -> Tuple[Any, Tuple[str, ...]]:
    """(the core's kvorm_schema *, freed when garbage collected; the model names)."""
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
        return ffi.gc(out[0], lib.kvorm_schema_free), _model_names(json.loads(text))
    else:
        raise TypeError("kvorm: schema must be a path, a dict or JSON text, not %s" % type(schema).__name__)
    if lib.kvorm_schema_from_json(out, text, len(text)) != 0:
        raise last_error()
    try:
        document = json.loads(text)
    except ValueError as e:  # the core accepted it, so this should not happen
        raise SchemaError("schema is not JSON: %s" % e) from e
    return ffi.gc(out[0], lib.kvorm_schema_free), _model_names(document)
