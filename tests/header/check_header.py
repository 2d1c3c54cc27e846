"""kvorm.h must be readable as is by cffi's cdef and by SWIG (-javascript -napi), the two binding generators.

Usage: python check_header.py KVORM_H LIBKVORM_SO WORKDIR [SWIG]
Takes the declarations between KVORM_API_BEGIN and KVORM_API_END, drops the KVORM_EXTERN marker, and checks
that cffi parses them, that the shared library exports every declared function (and calls two of them), and that
SWIG generates a Node-API wrapper calling every function.
"""
import re
import subprocess
import sys

import cffi


def api_block(header_text):
    begin = header_text.index("/* KVORM_API_BEGIN */")
    end = header_text.index("/* KVORM_API_END */")
    return header_text[begin:end].replace("KVORM_EXTERN ", "")


def check_cffi(block, functions, library):
    ffi = cffi.FFI()
    ffi.cdef(block)
    lib = ffi.dlopen(library)
    for name in functions:
        getattr(lib, name)  # raises if the library does not export it
    assert ffi.string(lib.kvorm_version()).decode() == "%d.%d.%d" % (
        lib.KVORM_VERSION_MAJOR, lib.KVORM_VERSION_MINOR, lib.KVORM_VERSION_PATCH)
    assert ffi.string(lib.kvorm_error_name(lib.KVORM_EUNIQUE)) == b"UNIQUE_VIOLATION"
    codes = ffi.typeof("kvorm_status").relements
    print("cffi: %d functions and %d status codes parsed, all exported by %s" % (len(functions), len(codes), library))


def check_swig(header_path, functions, workdir, swig):
    interface = workdir + "/kvorm.i"
    with open(interface, "w", encoding="utf-8") as f:
        f.write('%module kvorm\n%{\n#include "kvorm.h"\n%}\n#define KVORM_EXTERN\n%include "kvorm.h"\n')
    include = header_path.rsplit("/", 1)[0]
    out = workdir + "/kvorm_wrap.cxx"
    subprocess.run([swig, "-javascript", "-napi", "-c++", "-I" + include, "-o", out, interface], check=True)
    wrapper = open(out, encoding="utf-8").read()
    missing = [name for name in functions if not re.search(r"\b%s\s*\(" % name, wrapper)]
    assert not missing, "SWIG's wrapper calls none of %s" % missing
    print("swig -javascript -napi: the wrapper calls all %d functions" % len(functions))


def main():
    header_path, library, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
    swig = sys.argv[4] if len(sys.argv) > 4 else "swig"
    block = api_block(open(header_path, encoding="utf-8").read())
    functions = sorted(set(re.findall(r"\b(kvorm_[a-z_0-9]+)\s*\(", block)))
    assert len(functions) >= 10, functions
    check_cffi(block, functions, library)
    check_swig(header_path, functions, workdir, swig)
    print("header: 2 passed, 0 failed")


if __name__ == "__main__":
    main()
