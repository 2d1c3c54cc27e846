#!/usr/bin/env bash
# Builds query_bench, starts a private redis-server (free port, temp dir, no persistence) and runs the query
# benchmark over TCP: findMany, a range with orderBy, count, commands and round trips per query, memory per
# record, kvorm beside raw hiredis. Stops only the server it started.
#
#   scripts/bench-query.sh [records] [seconds-per-side-per-case]     (default 1000000 records, 2 s)
#   scripts/bench-query.sh 10k                                       (the quick run: 10,000 records)
#
# Environment: BUILD_DIR (default: build), REDIS_SERVER (default: redis-server), CMAKE_ARGS (extra configure
# arguments), BENCH_PIN (default 1: with taskset and two CPUs or more, the server runs on CPU 0 and the benchmark
# on CPU 1; 0 turns it off), BENCH_ARGS (more options for query_bench, e.g. "--three-indexes --queries 500").
# Exits 0 when the run completed (a MISS against a target is reported, not a failure); non-zero when the build,
# the server or the run fails.
set -euo pipefail

RECORDS="${1:-1000000}"
SECS="${2:-2}"
case "$RECORDS" in
  10k) RECORDS=10000 ;;
  1m|1M) RECORDS=1000000 ;;
esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
BENCH_PIN="${BENCH_PIN:-1}"

cd "$ROOT"
. scripts/lib/redis.sh
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" --target query_bench
BENCH="$BUILD_DIR/benchmarks/query_bench"

command -v "$REDIS_SERVER" >/dev/null || { echo "bench-query.sh: $REDIS_SERVER not found" >&2; exit 1; }

kvorm_bench_pins

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench-query.XXXXXX")"
cleanup() {
  kvorm_stop_redis
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kvorm_start_redis "$TMP" "${SERVER_PIN[@]}"
echo "redis-server pid $redis_pid on port $redis_port; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
[[ ${#CLIENT_PIN[@]} -gt 0 ]] && echo "(redis-server pinned to CPU 0, query_bench to CPU 1)"
# shellcheck disable=SC2086
"${CLIENT_PIN[@]}" "$BENCH" "redis://127.0.0.1:$redis_port" --records "$RECORDS" --seconds "$SECS" ${BENCH_ARGS:-}
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
exit 0
