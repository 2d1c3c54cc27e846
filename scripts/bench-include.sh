#!/usr/bin/env bash
# Builds include_bench, starts a private redis-server (free port, temp dir, no persistence) and runs the include
# benchmark over TCP: findMany of U users with an include of each one's latest T posts, beside the same data
# fetched with raw pipelined hiredis commands; then on LMDB (a temp dir) beside a SQLite JOIN. Stops only the server
# it started.
#
#   scripts/bench-include.sh [users] [posts-per-user] [take] [seconds-per-side]     (default 100 50 10 2)
#
# Environment: BUILD_DIR (default: build), REDIS_SERVER (default: redis-server), BENCH_PIN (default 1: with taskset
# and two CPUs or more, the server runs on CPU 0 and the benchmark on CPU 1; 0 turns it off).
set -euo pipefail

USERS="${1:-100}"
POSTS="${2:-50}"
TAKE="${3:-10}"
SECS="${4:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
BENCH_PIN="${BENCH_PIN:-1}"

cd "$ROOT"
. scripts/lib/redis.sh
cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" --target include_bench
command -v "$REDIS_SERVER" >/dev/null || { echo "bench-include.sh: $REDIS_SERVER not found" >&2; exit 1; }

kvorm_bench_pins

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench-include.XXXXXX")"
cleanup() {
  kvorm_stop_redis
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kvorm_start_redis "$TMP" "${SERVER_PIN[@]}"
echo "redis-server pid $redis_pid on port $redis_port; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"${CLIENT_PIN[@]}" "$BUILD_DIR/benchmarks/include_bench" "redis://127.0.0.1:$redis_port" --users "$USERS" \
  --posts "$POSTS" --take "$TAKE" --seconds "$SECS"
kvorm_stop_redis
echo
"${CLIENT_PIN[@]}" "$BUILD_DIR/benchmarks/include_bench" "lmdb://$TMP/lmdb" --sqlite "$TMP/include.sqlite" \
  --users "$USERS" --posts "$POSTS" --take "$TAKE" --seconds "$SECS"
exit 0
