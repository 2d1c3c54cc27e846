#!/usr/bin/env bash
# The LMDB benchmark: builds lmdb_bench, makes a temp dir (on a real disk: the durability cases fsync), runs the C
# benchmark (kvorm's LMDB engine beside raw LMDB and SQLite: findUnique, findMany, createMany of 1000, file size per
# record), then the Python one (benchmarks/python/lmdb_bench.py: the Python package beside the sqlite3 module, and
# beside py-lmdb when it installs), each in a fresh directory, and removes the temp dir.
#
#   scripts/bench-lmdb.sh [records] [seconds-per-side-per-case]     (default 1000000 records, 2 s)
#   scripts/bench-lmdb.sh 10k                                       (the quick run: 10,000 records)
#   scripts/bench-lmdb.sh 100k 1                                    (100,000 records, 1 s)
#
# Environment: BUILD_DIR (default: build), CMAKE_ARGS (extra configure arguments), BENCH_PIN (default 1: with
# taskset and two CPUs or more, the benchmark runs on CPU 1; 0 turns it off), BENCH_PY (default 1; 0 skips the
# Python run), BENCH_VENV (default /tmp/kvorm-py-bench-venv, reused between runs), PY_RECORDS (records of the
# Python run; default: the C run's), BENCH_ARGS (more options for lmdb_bench, e.g. "--sqlite-mmap 268435456"),
# TMPDIR (where the temp dir goes). Needs ~1.5 GB of disk at 1M records. Exits 0 when the runs completed (a MISS
# against a target is reported, not a failure); non-zero when the build or a run fails.
set -euo pipefail

records_arg() {
  case "$1" in
    10k) echo 10000 ;;
    100k) echo 100000 ;;
    1m|1M) echo 1000000 ;;
    *) echo "$1" ;;
  esac
}
RECORDS="$(records_arg "${1:-1000000}")"
SECS="${2:-2}"
PY_RECORDS="$(records_arg "${PY_RECORDS:-$RECORDS}")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
BENCH_PIN="${BENCH_PIN:-1}"

cd "$ROOT"
. scripts/lib/pyvenv.sh
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" --target lmdb_bench
BENCH="$BUILD_DIR/benchmarks/lmdb_bench"
[ -x "$BENCH" ] || { echo "bench-lmdb.sh: $BENCH was not built (libsqlite3-dev missing? scripts/setup-debian.sh)" >&2; exit 1; }

PIN=()
if [[ "$BENCH_PIN" != 0 ]] && command -v taskset >/dev/null && [[ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]]; then
  PIN=(taskset -c 1)
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench-lmdb.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

fs="$(stat -f -c %T "$TMP" 2>/dev/null || echo '?')"
echo "temp dir $TMP on $fs; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
[[ "$fs" == tmpfs ]] && echo "bench-lmdb.sh: warning: $TMP is on tmpfs: fsync costs nothing there (set TMPDIR)" >&2
[[ ${#PIN[@]} -gt 0 ]] && echo "(the benchmark pinned to CPU 1)"
# shellcheck disable=SC2086
"${PIN[@]}" "$BENCH" "$TMP/c" --records "$RECORDS" --seconds "$SECS" ${BENCH_ARGS:-}
rm -rf "$TMP/c"
echo "load average after the C run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

if [[ "${BENCH_PY:-1}" != 0 ]]; then
  venv="${BENCH_VENV:-/tmp/kvorm-py-bench-venv}"
  kvorm_py_venv "$venv" "$TMP"
  # raw py-lmdb beside kvorm: optional, the benchmark runs without it
  "$kvorm_python" -m pip install --quiet --disable-pip-version-check "lmdb==3.0.0" ||
    echo "bench-lmdb.sh: py-lmdb did not install: the Python run goes without its raw LMDB side" >&2
  echo
  "${PIN[@]}" "$kvorm_python" benchmarks/python/lmdb_bench.py "$TMP/py" --records "$PY_RECORDS" --seconds "$SECS"
  echo "load average after the Python run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
fi
exit 0
