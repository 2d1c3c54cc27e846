#!/usr/bin/env bash
# The Python package, from a clean checkout:
#   1. sdist      `python -m build --sdist python/` (the sdist carries a copy of the C core and the cffi builder)
#   2. from sdist the sdist installed into a fresh venv, which proves it builds on its own; the whole pytest
#                 suite (tests/python) runs against that installation, with a redis-server the fixtures start
#   3. README     the install lines of README.md's "## Python" section run as they are (venv, activate,
#                 `pip install ./python`) in a copy of the checkout (compile flags checked), the package, CRUD and
#                 close tests against that installation, then the section's Python example as it is
# Every venv and build output goes to a temp dir (the README's .venv and setuptools' build/ into a copy of the
# checkout there): nothing is written into the checkout.
# Needs the Debian packages of scripts/setup-debian.sh (cmake, ninja, pkg-config, lib{hiredis,msgpack,jansson}-dev,
# redis-server) and PyPI. Prints `python: N passed, 0 failed` last; exits non-zero on any failure.
#
# Environment: KVORM_JOBS (default 2) sets the C build parallelism; PYTHON (default python3) the interpreter;
# KEEP_TMP=1 keeps the temp dir; KVORM_C_WRITER the C writer of test_lmdb_processes.py (else built here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
. scripts/lib/redis.sh
redis_pid=""
python=${PYTHON:-python3}
started=$SECONDS
step="setup"
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-py-test.XXXXXX")

cleanup() {
  local rc=$?
  kvorm_stop_redis
  if [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "temp dir kept: $tmp"
  else
    rm -rf "$tmp"
  fi
  if [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "test-python.sh: PASS (sdist, install from sdist + pytest, README install + pytest + example) in $((SECONDS - started))s"
  else
    echo "test-python.sh: FAIL during '$step' (exit $rc) after $((SECONDS - started))s" >&2
    [ "$rc" -ne 0 ] || rc=1
  fi
  echo "python: $passed passed, $failed failed"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

banner() {
  step=$1
  printf '\n=== %s (%ss)\n' "$1" "$((SECONDS - started))"
}

# Pinned versions for everything taken from PyPI, build isolation included (pip reads PIP_CONSTRAINT there too).
cat >"$tmp/constraints.txt" <<'EOF'
build==1.3.0
setuptools==80.9.0
cffi==2.1.1
pycparser==2.23
msgpack==1.2.4
pytest==8.4.2
redis==6.4.0
packaging==25.0
pyproject_hooks==1.2.0
iniconfig==2.1.0
pluggy==1.6.0
pygments==2.19.2
EOF
export PIP_CONSTRAINT="$tmp/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export KVORM_JOBS=${KVORM_JOBS:-2}
test_deps=(pytest redis)

new_venv() {
  "$python" -m venv "$1"
  "$1/bin/pip" install --quiet --upgrade "pip>=23"
}

# Runs pytest from outside the repo (so `kvorm` can only come from the venv's installation) and adds its counts.
run_pytest() {
  local venv=$1 name=$2 rc=0
  shift 2
  (cd "$tmp" && "$venv/bin/python" -m pytest -p no:cacheprovider -q --junitxml="$tmp/$name.xml" "$@") || rc=$?
  local counts
  counts=$("$venv/bin/python" - "$tmp/$name.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
total = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(total - bad - skipped, bad + skipped)
EOF
  ) || counts="0 1"
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
  if [ "$rc" -ne 0 ] || [ "${counts#* }" -ne 0 ]; then
    echo "test-python.sh: pytest ($name) failed or skipped tests" >&2
    return 1
  fi
}

banner "1/3 sdist"
new_venv "$tmp/tools"
"$tmp/tools/bin/pip" install --quiet build
"$tmp/tools/bin/python" -m build --sdist --outdir "$tmp/dist" python
sdist=$(ls "$tmp"/dist/kvorm-*.tar.gz)
echo "sdist: $sdist"
listing=$(tar tzf "$sdist")
for want in _kvorm_src/CMakeLists.txt _kvorm_src/core/include/kvorm.h _kvorm_src/core/src/exec.c \
  _kvorm_src/cmake/kvorm.pc.in _kvorm_src/bindings/python/kvorm_build.py kvorm/py.typed setup.py; do
  if ! grep -q "/$want\$" <<<"$listing"; then
    echo "test-python.sh: the sdist lacks $want" >&2
    exit 1
  fi
done
if grep -Eq '(/build/|\.so$|\.o$|\.a$|_kvorm_cffi\.c$)' <<<"$listing"; then
  echo "test-python.sh: the sdist holds build output" >&2
  exit 1
fi

banner "2/3 install the sdist into a fresh venv"
new_venv "$tmp/sdist-venv"
"$tmp/sdist-venv/bin/pip" install --quiet "$sdist" "${test_deps[@]}"
banner "2/3 pytest against the sdist installation"
if [ -z "${KVORM_C_WRITER:-}" ]; then
  # the C process of tests/python/test_lmdb_processes.py, built from this checkout
  cmake -S "$root" -B "$tmp/c-writer" -G Ninja -DKVORM_BUILD_TESTS=ON -DKVORM_BUILD_EXAMPLES=OFF \
    -DKVORM_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$tmp/c-writer" --target kvorm_lmdb_writer -j "${KVORM_JOBS:-2}" >/dev/null
  export KVORM_C_WRITER="$tmp/c-writer/tests/kvorm_lmdb_writer"
fi
run_pytest "$tmp/sdist-venv" sdist "$root/tests/python"

# A code block of README.md's "## Python" section (the first one of the given language), as it is.
readme_block() {
  awk -v lang="$1" '
    /^## / { in_section = ($0 == "## Python"); next }
    in_section && !on && $0 == "```" lang { on = 1; next }
    on && /^```$/ { exit }
    on { print }' README.md
}

banner "3/3 the README's install lines, as they are, in a copy of the checkout"
# A copy, so that the README's .venv is not made in the checkout; the files as they are now, built or not.
copy="$tmp/checkout"
mkdir -p "$copy"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do if [ -f "$f" ]; then printf '%s\0' "$f"; fi; done |
  tar --null -T - -cf - | tar -xf - -C "$copy"
readme_block sh >"$tmp/readme_install.sh"
if ! grep -q 'pip install ./python' "$tmp/readme_install.sh"; then
  echo "test-python.sh: README.md's Python section has no 'pip install ./python' line" >&2
  exit 1
fi
cat "$tmp/readme_install.sh"
# PIP_VERBOSE shows the compiler lines; the CMake build goes to the temp dir like the rest.
(cd "$copy" && PIP_VERBOSE=1 KVORM_CMAKE_BUILD_DIR="$tmp/tree-cmake" bash -euo pipefail "$tmp/readme_install.sh") \
  >"$tmp/tree-install.log" 2>&1 || {
  tail -n 40 "$tmp/tree-install.log" >&2
  exit 1
}
readme_venv="$copy/.venv"
if [ ! -x "$readme_venv/bin/python" ]; then
  echo "test-python.sh: README.md's install lines made no .venv" >&2
  exit 1
fi
"$readme_venv/bin/pip" install --quiet "${test_deps[@]}"
# The extension is compiled with the strict flags that turn a cdef/header mismatch into a build error.
if ! grep -q -- "-Werror=incompatible-pointer-types" "$tmp/tree-install.log"; then
  echo "test-python.sh: the extension was not compiled with the strict flags" >&2
  exit 1
fi
banner "3/3 pytest against the README's installation"
run_pytest "$readme_venv" tree "$root/tests/python/test_package.py" "$root/tests/python/test_crud.py" \
  "$root/tests/python/test_close.py"
banner "3/3 the README's Python example, as it is, against that installation"
# The block exactly as a user copies it, run as a file from the checkout's root (its schema path is relative to
# it); only the server address is ours, so it must be the README's one, once.
readme_block python >"$tmp/readme_example.py"
if [ "$(grep -c 'redis://127.0.0.1:6379/0' "$tmp/readme_example.py")" != 1 ]; then
  echo "test-python.sh: README.md's Python example does not name redis://127.0.0.1:6379/0 once" >&2
  exit 1
fi
mkdir -p "$tmp/redis"
kvorm_start_redis "$tmp/redis"
sed -i "s|redis://127.0.0.1:6379/0|redis://127.0.0.1:$redis_port/0|" "$tmp/readme_example.py"
readme_out=$(cd "$copy" && "$readme_venv/bin/python" "$tmp/readme_example.py")
echo "$readme_out"
if ! grep -q "'email': 'ann@example.com'" <<<"$readme_out" || ! grep -q "'age': 32" <<<"$readme_out"; then
  echo "test-python.sh: the README example did not print the updated record" >&2
  exit 1
fi
kvorm_stop_redis
passed=$((passed + 1))
step="done"
