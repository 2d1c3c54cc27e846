"""snake_case Python names <-> the protocol's camelCase op and argument names."""
import functools


@functools.lru_cache(maxsize=None)
def camel(name: str) -> str:
    """find_unique_or_throw -> findUniqueOrThrow, if_version -> ifVersion, refuse_scans -> refuseScans. A leading
    underscore stays (_count, _sum are the protocol's own names), and a camelCase name is left as it is."""
    stripped = name.lstrip("_")
    head, *rest = stripped.split("_")
    return name[:len(name) - len(stripped)] + head + "".join(part[:1].upper() + part[1:] for part in rest)
