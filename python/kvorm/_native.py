"""The compiled cffi module, and the thread-local last error of the core as an exception."""
try:
    from ._kvorm_cffi import ffi, lib  # noqa: F401  (re-exported)
except ImportError as e:  # typically: importing the source tree (python/kvorm) instead of an installation
    raise ImportError("kvorm: the compiled extension kvorm._kvorm_cffi is missing from %s; install the package "
                      "(pip install ./python) and import it from outside the source tree" % __file__.rsplit("/", 1)[0]
                      ) from e
from .errors import Error, error_class


def last_error() -> Error:
    """The calling thread's last core error (for calls that return no error document: schema, open)."""
    code = lib.kvorm_last_error_code()
    name = ffi.string(lib.kvorm_error_name(code)).decode("utf-8", "replace")
    message = ffi.string(lib.kvorm_last_error_message()).decode("utf-8", "replace")
    retryable = bool(lib.kvorm_last_error_retryable())
    return error_class(name)(message or "kvorm call failed", code=name, retryable=retryable)


def core_version() -> str:
    """The version of the linked C core, "MAJOR.MINOR.PATCH"."""
    return ffi.string(lib.kvorm_version()).decode()
