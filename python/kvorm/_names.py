"""snake_case Python names <-> the protocol's camelCase op and argument names."""
import functools


@functools.lru_cache(maxsize=None)
def camel(name: str) -> str:
    """find_unique_or_throw -> findUniqueOrThrow, if_version -> ifVersion."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
