#!/usr/bin/env bash
# Every test of kvorm, in the order a failure is cheapest to find:
#   1. build/       Ninja build, then the GoogleTest suite (ctest; the tests start their own redis-server)
#   2. build-asan/  the same with AddressSanitizer + UndefinedBehaviorSanitizer (Debug), leaks checked
#   3. fuzz         scripts/fuzz.sh: every libFuzzer target of tests/fuzz built with clang into build-fuzz/ and run
#                   for KVORM_FUZZ_SECONDS (default 10) each on a copy of its seed corpus (the request targets
#                   against a redis-server that script starts and stops)
#   4. header       kvorm.h read as is by cffi's cdef and by SWIG -javascript -napi (pinned, in a venv from PyPI),
#                   every declared function exported by libkvorm.so
#   5. install      `cmake --install` into a temporary prefix; examples/hello.c and the README example built
#                   against it with pkg-config and with find_package(kvorm), then run against a redis-server
#                   this script starts on a free port (and stops by its pid)
#   6. python       scripts/test-python.sh: sdist built and installed in a fresh venv, pytest against it
#   7. node         scripts/test-node.sh: SWIG wrapper up to date, addon built, node --test, npm pack installed in
#                   a fresh directory, tsc on the typed example
# Exits non-zero on the first failure and prints one summary line either way.
#
# Environment: KVORM_SKIP_SETUP=1 skips scripts/setup-debian.sh; KVORM_JOBS (default 2) sets build parallelism;
# KVORM_BUILD_DIR (default build; the sanitizer build goes to <it>-asan) moves the build directories;
# CTEST_PARALLEL_LEVEL is passed through to ctest; KVORM_FUZZ_SECONDS to scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
. scripts/lib/redis.sh

jobs=${KVORM_JOBS:-2}
build=${KVORM_BUILD_DIR:-build}
asan="$build-asan"
started=$SECONDS
step="setup"
tmp=""
redis_pid=""
redis_port=""

cleanup() {
  local rc=$?
  kvorm_stop_redis
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
  fi
  if [ "$rc" -eq 0 ]; then
    echo "test.sh: PASS (build+ctest, asan+ctest, fuzz, header for cffi+SWIG, install+consumers, python, node) in $((SECONDS - started))s"
    # One line with every test case: the GoogleTest cases behind ctest's single entry (both builds), the fuzz
    # targets, the header checks, and the Python and Node suites.
    echo "tests: $((passed_cases)) passed, 0 failed"
  else
    echo "test.sh: FAIL during '$step' (exit $rc) after $((SECONDS - started))s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed_cases=0
# Adds the GoogleTest cases that passed in the last ctest run of build directory $1 to passed_cases.
count_cases() {
  local n
  # one "[  PASSED  ] N tests." line per ctest entry (the suite, the randomized test): add them all
  n=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\.$/\1/p' "$1/Testing/Temporary/LastTest.log" |
    awk '{ s += $1 } END { print s + 0 }')
  passed_cases=$((passed_cases + ${n:-0}))
}

# Runs a language suite's script ($1), which ends with a line "<name>: N passed, 0 failed", and adds N.
run_suite() {
  local log="$tmp/$(basename "$1").log" n
  bash "$1" 2>&1 | tee "$log"
  n=$(sed -n 's/^[a-z]*: \([0-9]*\) passed, 0 failed$/\1/p' "$log" | tail -n 1)
  if [ -z "$n" ]; then
    echo "test.sh: $1 printed no summary line" >&2
    return 1
  fi
  passed_cases=$((passed_cases + n))
}

banner() {
  step=$1
  printf '\n=== %s (%ss)\n' "$1" "$((SECONDS - started))"
}

# Configures a build directory with Ninja; keeps the generator of an existing build directory.
configure() {
  local dir=$1
  shift
  if [ -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$dir" "$@"
  else
    cmake -S "$root" -B "$dir" -G Ninja "$@"
  fi
}

# Runs a hello binary against the given URL and checks the steps it reports.
check_hello() {
  local name=$1 url=$2 bin=$3 out="$tmp/$1.out"
  echo "--- $name: $bin $url"
  local rc=0 want
  "$bin" "$url" "$root/examples/app.schema.json" >"$out" 2>&1 || rc=$?
  cat "$out"
  if [ "$rc" -ne 0 ]; then
    echo "test.sh: $name exited with $rc" >&2
    return 1
  fi
  for want in '"email":"ann@example.com"' 'UNIQUE_VIOLATION' '"code":"UNIQUE_VIOLATION"' '^count +1$' \
    '^hello: done$'; do
    if ! grep -Eq -- "$want" "$out"; then
      echo "test.sh: $name: output lacks /$want/" >&2
      return 1
    fi
  done
}

if [ "${KVORM_SKIP_SETUP:-0}" != 1 ]; then
  banner "setup"
  bash scripts/setup-debian.sh
fi

# The options are given even where they are the defaults: a build directory configured by hand keeps its own.
# 1. Build and the test suite.
banner "1/7 build ($build/)"
configure "$build" -DKVORM_BUILD_TESTS=ON -DKVORM_BUILD_BENCHMARKS=ON -DKVORM_BUILD_EXAMPLES=ON \
  -DKVORM_BUILD_SHARED=ON -DKVORM_SANITIZE=OFF
cmake --build "$build" -j "$jobs"
banner "1/7 ctest ($build/)"
(cd "$build" && ctest --output-on-failure --no-tests=error)
count_cases "$build"

# 2. Sanitizers.
banner "2/7 build ($asan/, ASan+UBSan)"
# Debug (-O0, asserts on): compiles in about half the time of -O2 on 2 cores and gives exact ASan stacks.
configure "$asan" -DKVORM_SANITIZE=ON -DKVORM_BUILD_BENCHMARKS=OFF -DKVORM_BUILD_TESTS=ON -DKVORM_BUILD_EXAMPLES=ON \
  -DKVORM_BUILD_SHARED=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$asan" -j "$jobs"
banner "2/7 ctest ($asan/)"
(cd "$asan" &&
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --no-tests=error)
count_cases "$asan"

# 3. The fuzz targets. run_suite keeps its log in $tmp, so the temporary directory is made here.
banner "3/7 fuzz"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-test.XXXXXX")
run_suite scripts/fuzz.sh

# 4. The header as the bindings will read it: cffi's cdef and SWIG's Node-API generator (pinned, from PyPI).
banner "4/7 kvorm.h read by cffi and SWIG"
venv="$build/header-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "cffi==2.1.1" "swig==4.5.1"
mkdir -p "$build/header-check"
"$venv/bin/python" tests/header/check_header.py core/include/kvorm.h "$build/core/libkvorm.so" \
  "$build/header-check" "$venv/bin/swig"
passed_cases=$((passed_cases + 2))

# 5. Install, then build consumers against the installed library only.
banner "5/7 install"
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix"

banner "5/7 consumer via pkg-config"
pc=$(find "$prefix" -name kvorm.pc -print -quit)
if [ -z "$pc" ]; then
  echo "test.sh: the install has no kvorm.pc" >&2
  exit 1
fi
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
echo "pkg-config --cflags --libs kvorm: $(pkg-config --cflags --libs kvorm)"
libdir=$(pkg-config --variable=libdir kvorm)
case "$(pkg-config --cflags kvorm) $libdir" in
  *"$prefix"*"$prefix"*) ;;
  *)
    echo "test.sh: kvorm.pc does not point into the install prefix $prefix" >&2
    exit 1
    ;;
esac
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags kvorm) examples/hello.c -o "$tmp/hello-pkgconfig" \
  $(pkg-config --libs kvorm) -Wl,-rpath,"$libdir"
# The README's C example, taken from README.md as is, so it cannot drift.
awk '/^```c$/ {on = 1; next} on && /^```$/ {exit} on {print}' README.md >"$tmp/readme_example.c"
if [ ! -s "$tmp/readme_example.c" ]; then
  echo "test.sh: README.md has no \`\`\`c example" >&2
  exit 1
fi
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags kvorm) "$tmp/readme_example.c" \
  -o "$tmp/readme-example" $(pkg-config --libs kvorm) -Wl,-rpath,"$libdir"
# grep reads all of its input (no -q): under pipefail an early exit would kill ldd with SIGPIPE
if ! ldd "$tmp/hello-pkgconfig" | grep "libkvorm.*$prefix" >/dev/null; then
  echo "test.sh: hello-pkgconfig does not load libkvorm from $prefix:" >&2
  ldd "$tmp/hello-pkgconfig" >&2
  exit 1
fi

banner "5/7 consumer via find_package(kvorm)"
cmake -S examples/consumer -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
kvorm_dir=$(sed -n 's/^kvorm_DIR:[A-Z]*=//p' "$tmp/consumer/CMakeCache.txt")
case "$kvorm_dir" in
  "$prefix"/*) ;;
  *)
    echo "test.sh: find_package(kvorm) found $kvorm_dir, not the install in $prefix" >&2
    exit 1
    ;;
esac
cmake --build "$tmp/consumer" -j "$jobs"

banner "5/7 run the consumers against a redis-server of our own"
mkdir -p "$tmp/redis"
kvorm_start_redis "$tmp/redis"
echo "redis-server pid $redis_pid on port $redis_port"
# One Redis database per run: each run starts from an empty store.
check_hello hello-pkgconfig "redis://127.0.0.1:$redis_port/0" "$tmp/hello-pkgconfig"
check_hello hello-cmake "redis://127.0.0.1:$redis_port/1" "$tmp/consumer/hello"
check_hello hello-cmake-static "redis://127.0.0.1:$redis_port/2" "$tmp/consumer/hello_static"
echo "--- readme-example"
readme_out=$("$tmp/readme-example" "redis://127.0.0.1:$redis_port/3")
echo "$readme_out"
if ! grep -q '"email":"ann@example.com"' <<<"$readme_out"; then
  echo "test.sh: the README example printed no created record" >&2
  exit 1
fi

kvorm_stop_redis

# 6 and 7. The language packages, each built from source the way a user installs it.
banner "6/7 python"
run_suite scripts/test-python.sh
banner "7/7 node"
run_suite scripts/test-node.sh

step="done"
