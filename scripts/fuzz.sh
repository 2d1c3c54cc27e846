#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (tests/fuzz/README.md): builds them with clang into build-fuzz/, starts a
# redis-server of our own for the request targets (a unix socket in a temporary directory, no persistence, stopped
# by its pid), and runs each target for a fixed time on a temporary copy of its committed seed corpus (the
# repository is never written). Fails on any crash, sanitizer report, leak, failed check, timeout or
# out-of-memory, printing where the reproducer was saved. The last line is `fuzz: N passed, M failed`.
#
#   bash scripts/fuzz.sh                          every target, KVORM_FUZZ_SECONDS (default 10) each
#   KVORM_FUZZ_SECONDS=600 bash scripts/fuzz.sh exec_json mp    some targets, longer
#   bash scripts/fuzz.sh --repro TARGET FILE...   runs TARGET once on each FILE (a saved crash, say)
#
# Environment: KVORM_FUZZ_SECONDS; KVORM_FUZZ_BUILD_DIR (default build-fuzz; must be named build-fuzz*);
# KVORM_JOBS (default 2) sets build parallelism; KVORM_FUZZ_CC / KVORM_FUZZ_CXX name the compilers (default
# clang-14, else clang); KVORM_FUZZ_ARGS adds libFuzzer flags (e.g. -fork=2: two processes per target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
. scripts/lib/redis.sh

all_targets=(schema_json schema_msgpack exec_msgpack exec_json decimal datetime base64 redis_url mp layout keycode resp lmdb)
seconds=${KVORM_FUZZ_SECONDS:-10}
build=${KVORM_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${KVORM_JOBS:-2}
started=$SECONDS
tmp=""
redis_pid=""

case "$(basename "$build")" in
  build-fuzz*) ;;
  *)
    echo "fuzz.sh: KVORM_FUZZ_BUILD_DIR must be named build-fuzz*, not $build" >&2
    exit 2
    ;;
esac

cleanup() {
  local rc=$?
  kvorm_stop_redis
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Per target: the longest input, the per-input timeout in seconds.
max_len() {
  case $1 in
    exec_msgpack | exec_json | schema_json | schema_msgpack | mp) echo 4096 ;;
    decimal) echo 2100 ;;
    datetime) echo 64 ;;
    base64) echo 1024 ;;
    redis_url) echo 8192 ;;
    layout | keycode | resp | lmdb) echo 2048 ;;
  esac
}
input_timeout() {
  case $1 in
    exec_*) echo 20 ;;
    *) echo 10 ;;
  esac
}

repro=0
if [ "${1:-}" = "--repro" ]; then
  repro=1
  shift
  if [ $# -lt 2 ]; then
    echo "usage: fuzz.sh --repro TARGET FILE..." >&2
    exit 2
  fi
  targets=("$1")
  shift
  files=()
  for f in "$@"; do
    files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
  done
elif [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
  if [ -z "$(max_len "$t")" ]; then
    echo "fuzz.sh: unknown target $t (${all_targets[*]})" >&2
    exit 2
  fi
done

cc=${KVORM_FUZZ_CC:-}
if [ -z "$cc" ]; then
  cc=$(command -v clang-14 || command -v clang || true)
fi
cxx=${KVORM_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  cxx=$(command -v clang++-14 || command -v clang++ || true)
fi
if [ -z "$cc" ] || [ -z "$cxx" ]; then
  echo "fuzz.sh: clang not found (scripts/setup-debian.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi

echo "=== fuzz: build ($build/, $(basename "$cc"))"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=Debug -DKVORM_BUILD_FUZZ=ON -DKVORM_BUILD_TESTS=OFF -DKVORM_BUILD_BENCHMARKS=OFF \
    -DKVORM_BUILD_EXAMPLES=OFF -DKVORM_BUILD_SHARED=OFF
fi
cmake --build "$build" -j "$jobs" --target kvorm_fuzz

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-fuzz.XXXXXX")
for t in "${targets[@]}"; do
  case $t in
    exec_*)
      mkdir -p "$tmp/redis"
      kvorm_start_redis "$tmp/redis"
      echo "redis-server pid $redis_pid on $redis_sock"
      export KVORM_FUZZ_REDIS_SOCKET=$redis_sock
      break
      ;;
  esac
done

symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
if [ -n "$symbolizer" ]; then
  export ASAN_SYMBOLIZER_PATH=$symbolizer
fi
export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [ "$repro" = 1 ]; then
  t=${targets[0]}
  echo "=== fuzz: $t on ${files[*]}"
  (cd "$tmp" && "$root/$build/fuzz/fuzz_$t" -runs=1 "${files[@]}")
  exit $?
fi

passed=0
failed=0
saved="$build/crashes"
for t in "${targets[@]}"; do
  work="$tmp/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ -d "tests/fuzz/corpus/$t" ]; then
    cp -R "tests/fuzz/corpus/$t/." "$work/corpus/"
  fi
  args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout="$(input_timeout "$t")"
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  if [ -f "tests/fuzz/dict/$t.dict" ]; then
    args+=(-dict="$root/tests/fuzz/dict/$t.dict")
  fi
  # shellcheck disable=SC2206 # extra flags are split on purpose
  args+=(${KVORM_FUZZ_ARGS:-})
  t0=$SECONDS
  rc=0
  # run in the work directory: -fork and -jobs write their files to the current one
  (cd "$work" && "$root/$build/fuzz/fuzz_$t" "${args[@]}" "$work/corpus") >"$work/log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $t: ok, ${runs:-?} runs, cov ${cov:-?}, $(find "$work/corpus" -type f | wc -l) corpus files," \
      "$((SECONDS - t0))s"
  else
    failed=$((failed + 1))
    echo "fuzz $t: FAILED (exit $rc) after $((SECONDS - t0))s; the end of its log:" >&2
    grep -av '^#[0-9]' "$work/log" | tail -n 60 >&2 || true
    mkdir -p "$saved/$t"
    cp "$work/log" "$saved/$t/log"
    for a in "$work/artifacts"/*; do
      [ -e "$a" ] || continue
      cp "$a" "$saved/$t/"
      echo "fuzz $t: reproducer $root/$saved/$t/$(basename "$a")" \
        "(bash scripts/fuzz.sh --repro $t $saved/$t/$(basename "$a"))" >&2
    done
  fi
done

echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, in $((SECONDS - started))s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
