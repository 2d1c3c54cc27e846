"""The package as installed: from site-packages (not the source tree), typed, linked statically to the core."""
import os
import subprocess

import kvorm


def test_kvorm_is_imported_from_an_installation_not_the_source_tree():
    assert "site-packages" in kvorm.__file__.split(os.sep), kvorm.__file__


def test_package_ships_type_hints():
    assert os.path.isfile(os.path.join(os.path.dirname(kvorm.__file__), "py.typed"))


def test_core_version_matches_package_version():
    assert kvorm.core_version() == kvorm.__version__ == "0.1.0"


def test_extension_does_not_need_a_shared_libkvorm():
    from kvorm import _kvorm_cffi
    libraries = subprocess.run(["ldd", _kvorm_cffi.__file__], capture_output=True, text=True, check=True).stdout
    assert "libhiredis" in libraries
    assert "libkvorm" not in libraries
