"""The cffi builder turns a cdef that does not match kvorm.h into a build failure, not a crash at run time.

Builds the extension module from the real cdef (must compile) and from deliberately wrong ones (must not)."""
import importlib.util
import os

import pytest

from conftest import REPO

HEADER = os.path.join(REPO, "core", "include", "kvorm.h")


def load_builder():
    spec = importlib.util.spec_from_file_location(
        "kvorm_build", os.path.join(REPO, "bindings", "python", "kvorm_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(tmp_path, cdef=None):
    builder = load_builder()
    ffi = builder.make_ffibuilder(HEADER, include_dirs=[os.path.dirname(HEADER)], cdef=cdef)
    return ffi.compile(tmpdir=str(tmp_path), verbose=False)


def wrong_cdef(old, new):
    text = open(HEADER, encoding="utf-8").read()
    assert old in text, "the header changed: update this test's replacement"
    return load_builder().api_block(text.replace(old, new))


def test_the_cdef_is_derived_from_the_header():
    builder = load_builder()
    cdef = builder.api_block(open(HEADER, encoding="utf-8").read())
    assert "KVORM_EXTERN" not in cdef and "int kvorm_exec(unsigned char **out" in cdef
    assert len(builder.function_prototypes(cdef)) >= 15


def test_the_header_cdef_builds(tmp_path):
    assert os.path.isfile(build(tmp_path))


@pytest.mark.parametrize("old,new", [
    ("int kvorm_exec(unsigned char **out", "int kvorm_exec(char **out"),
    ("KVORM_EXTERN int kvorm_last_error_code(void);", "KVORM_EXTERN long kvorm_last_error_code(void);"),
    ("const char *url, const kvorm_schema *schema,", "const char *url, int schema,"),
    ("    int pool_size;", "    long pool_size;"),
    ("    int refuse_scans;", "    unsigned refuse_scans;"),
    ("KVORM_EUNIQUE = -3,", "KVORM_EUNIQUE = -4,"),
    ("KVORM_ERELATION = -15", "KVORM_ERELATION = -16"),
    ("#define KVORM_OPEN_OPTIONS_VERSION 3", "#define KVORM_OPEN_OPTIONS_VERSION 4"),
], ids=["argument type", "return type", "pointer vs int", "struct field", "version 2 field", "enum value",
        "last enum value", "define"])
def test_a_cdef_that_differs_from_the_header_fails_the_build(tmp_path, old, new):
    from cffi import VerificationError
    with pytest.raises(VerificationError, match="CompileError"):
        build(tmp_path, cdef=wrong_cdef(old, new))
