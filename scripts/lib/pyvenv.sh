# Sourced by the Python benchmark scripts: a venv of ours with the kvorm package of this checkout installed.
#
# kvorm_py_venv VENV BUILD_TMP [PIP_SPECS...]: creates VENV unless it has a python already (so it is reused between
# runs), installs cffi and msgpack (the package's dependencies, pinned) and PIP_SPECS, then ./python, whose core is
# built with CMake in BUILD_TMP/cmake. Sets kvorm_python to the venv's interpreter.
kvorm_py_venv() {
  local venv=$1 build_tmp=$2 root
  shift 2
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cffi==2.1.1" "msgpack==1.2.4" "$@"
  KVORM_CMAKE_BUILD_DIR="$build_tmp/cmake" "$venv/bin/pip" install --quiet --disable-pip-version-check "$root/python"
  kvorm_python="$venv/bin/python"
}
