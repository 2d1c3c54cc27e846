"""Builds kvorm's extension: the C core through CMake (a static, PIC libkvorm.a), then the cffi module.

The C core and the cffi builder live outside python/ (core/, bindings/python/). In a checkout they are found in
the parent directory; an sdist carries a copy in _kvorm_src/, made by the sdist command below (never committed).

Environment: KVORM_JOBS (default 2) sets the CMake build parallelism; KVORM_CMAKE_BUILD_DIR puts the CMake build
directory elsewhere than under setuptools' build_temp.
"""
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
BUNDLE_DIR = "_kvorm_src"
MARKER = "core/include/kvorm.h"
# What building the core and the extension needs, relative to the repository root.
BUNDLE = ["CMakeLists.txt", "LICENSE", "cmake", "core/CMakeLists.txt", "core/include", "core/src",
          "bindings/python/kvorm_build.py"]
PKG_CONFIG_MODULES = ["hiredis", "lmdb", "msgpack", "jansson"]


def source_root():
    """The bundled copy in an sdist, else the repository around python/."""
    for root in (HERE / BUNDLE_DIR, HERE.parent):
        if (root / MARKER).is_file():
            return root
    raise SystemExit("kvorm: cannot find the C core (%s in %s or %s)" % (MARKER, HERE / BUNDLE_DIR, HERE.parent))


def load_builder(root):
    spec = importlib.util.spec_from_file_location("kvorm_build", root / "bindings/python/kvorm_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, *PKG_CONFIG_MODULES], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("kvorm: pkg-config %s failed (install libhiredis-dev liblmdb-dev libmsgpack-dev "
                         "libjansson-dev pkg-config): %s" % (" ".join(PKG_CONFIG_MODULES), getattr(e, "stderr", e)))
    return out.stdout.split()


def build_core(root, build_dir):
    """Configures and builds libkvorm.a (static, PIC; no tests, benchmarks or examples). Returns its path."""
    configure = ["cmake", "-S", str(root), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                 "-DKVORM_BUILD_TESTS=OFF", "-DKVORM_BUILD_BENCHMARKS=OFF", "-DKVORM_BUILD_EXAMPLES=OFF",
                 "-DKVORM_BUILD_SHARED=OFF", "-DCMAKE_POSITION_INDEPENDENT_CODE=ON"]
    if shutil.which("ninja") and not (build_dir / "CMakeCache.txt").exists():
        configure += ["-G", "Ninja"]
    subprocess.run(configure, check=True)
    jobs = os.environ.get("KVORM_JOBS", "2")
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "kvorm_static", "-j", jobs], check=True)
    library = build_dir / "core" / "libkvorm.a"
    if not library.is_file():
        raise SystemExit("kvorm: the CMake build made no %s" % library)
    return library


class BuildExtWithCore(build_ext):
    """Builds the C core, then fills in the placeholder extension from cffi's generated module."""

    def run(self):
        root = source_root()
        build_temp = Path(self.build_temp).resolve()
        cmake_dir = Path(os.environ.get("KVORM_CMAKE_BUILD_DIR") or build_temp / "kvorm-core").resolve()
        library = build_core(root, cmake_dir)
        builder = load_builder(root)
        ffibuilder = builder.make_ffibuilder(
            str(root / MARKER),
            include_dirs=[str(root / "core" / "include")],
            extra_objects=[str(library)],
            libraries=[flag[2:] for flag in pkg_config("--libs-only-l")] + ["pthread"],
            library_dirs=[flag[2:] for flag in pkg_config("--libs-only-L")],
            # libkvorm's symbols stay inside the extension instead of being exported from it.
            extra_link_args=["-Wl,--exclude-libs,ALL"])
        generated = ffibuilder.distutils_extension(tmpdir=str(build_temp / "cffi"))
        for ext in self.extensions:
            if ext.name == builder.MODULE_NAME:
                for attr in ("sources", "include_dirs", "define_macros", "undef_macros", "library_dirs",
                             "libraries", "runtime_library_dirs", "extra_objects", "extra_compile_args",
                             "extra_link_args"):
                    setattr(ext, attr, getattr(generated, attr))
                ext.depends = [str(library)]
        super().run()


class SdistWithCore(sdist):
    """Puts a copy of the C core and the cffi builder into the sdist, so that it builds on its own."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = source_root()
        for piece in BUNDLE:
            src, dest = root / piece, Path(base_dir) / BUNDLE_DIR / piece
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(src, dest)


setup(
    # Sources are generated by cffi in BuildExtWithCore.run; the placeholder makes the wheel platform-specific.
    ext_modules=[Extension("kvorm._kvorm_cffi", sources=[])],
    cmdclass={"build_ext": BuildExtWithCore, "sdist": SdistWithCore},
)
