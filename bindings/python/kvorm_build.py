"""cffi builder of kvorm's Python extension (API mode, out of line).

The cdef is the API block of core/include/kvorm.h (between KVORM_API_BEGIN and KVORM_API_END, the KVORM_EXTERN
marker dropped), read at build time, so the binding cannot drift from the header. Three guards turn a cdef that
does not match the header into a build failure rather than a crash at run time:

  - the generated C source declares every cdef prototype a second time, after including kvorm.h: a prototype
    that differs from the header's is a "conflicting types" compile error;
  - static assertions check each struct field's type and each integer constant's value of the cdef against
    the header (cffi itself would only notice those when the module is imported);
  - the generated code is compiled with -Wall -Wextra -Werror, so an argument of the wrong type
    (incompatible-pointer-types, int-conversion, pointer-sign) stops the build too.

Used by python/setup.py (make_ffibuilder) and by tests/python/test_build_guard.py, which feeds it a wrong cdef.
"""
import re

MODULE_NAME = "kvorm._kvorm_cffi"

# -Wno-unused-parameter: cffi's generated wrappers take a `self` argument they do not use.
STRICT_CFLAGS = ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Werror=incompatible-pointer-types",
                 "-Werror=int-conversion", "-Werror=pointer-sign", "-Werror=implicit-function-declaration"]


def api_block(header_text):
    """The declarations cffi reads: the header's API block without the KVORM_EXTERN marker."""
    begin = header_text.index("/* KVORM_API_BEGIN */")
    end = header_text.index("/* KVORM_API_END */")
    return header_text[begin:end].replace("KVORM_EXTERN ", "")


def function_prototypes(cdef):
    """Every function declaration of a cdef, one per item, comments removed."""
    text = re.sub(r"/\*.*?\*/", " ", cdef, flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    statements = (s.strip() for s in text.split(";"))
    return [" ".join(s.split()) + ";" for s in statements
            if re.search(r"\bkvorm_\w+\s*\(", s) and "{" not in s and "}" not in s and "typedef" not in s]


def static_checks(ffi, cdef):
    """_Static_assert lines: every struct field has the cdef's type, every integer constant the cdef's value."""
    checks = []
    names = re.findall(r"\btypedef\s+struct\s+\w+\s*\{.*?\}\s*(\w+)\s*;", cdef, flags=re.S)
    for name in names:
        for field, info in ffi.typeof(name).fields:
            checks.append('_Static_assert(__builtin_types_compatible_p(__typeof__(((%s *)0)->%s), %s), '
                          '"cdef: %s.%s is not %s in kvorm.h");' % (name, field, info.type.cname, name, field,
                                                                     info.type.cname))
    constants = dict(re.findall(r"^\s*#\s*define\s+(\w+)\s+(-?\d+)\s*$", cdef, flags=re.M))
    for enum in re.findall(r"\btypedef\s+enum\s+\w+\s*\{.*?\}\s*(\w+)\s*;", cdef, flags=re.S):
        constants.update((k, str(v)) for k, v in ffi.typeof(enum).relements.items())
    for name, value in sorted(constants.items()):
        checks.append('_Static_assert(%s == %s, "cdef: %s is not %s in kvorm.h");' % (name, value, name, value))
    return checks


def make_ffibuilder(header_path, include_dirs=(), extra_objects=(), libraries=(), library_dirs=(),
                    extra_link_args=(), cdef=None):
    """An FFI ready to compile: cdef from the header (or the given one), source checked against the header."""
    import cffi

    with open(header_path, encoding="utf-8") as f:
        header_text = f.read()
    if cdef is None:
        cdef = api_block(header_text)
    ffibuilder = cffi.FFI()
    ffibuilder.cdef(cdef)
    source = "\n".join(["#include \"kvorm.h\"",
                        "/* The cdef's prototypes again: any difference from kvorm.h is a compile error. */"]
                       + function_prototypes(cdef) + static_checks(ffibuilder, cdef))
    ffibuilder.set_source(MODULE_NAME, source,
                          include_dirs=list(include_dirs),
                          extra_objects=list(extra_objects),
                          libraries=list(libraries),
                          library_dirs=list(library_dirs),
                          extra_compile_args=list(STRICT_CFLAGS),
                          extra_link_args=list(extra_link_args))
    return ffibuilder
