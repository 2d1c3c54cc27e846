#!/usr/bin/env bash
# Builds refs_bench, starts a private redis-server (free port, temp dir, no persistence) and runs the referential
# benchmark over TCP: creates whose foreign key is checked and deletes that cascade, beside the same work by hand
# with raw hiredis; then on LMDB (a temp dir) beside SQLite with foreign keys on. Stops only the server it started.
#
#   scripts/bench-refs.sh [posts-per-delete] [seconds-per-side]     (default 20 2)
#
# Environment: BUILD_DIR (default: build), REDIS_SERVER (default: redis-server), BENCH_PIN (default 1: with taskset
# and two CPUs or more, the server runs on CPU 0 and the benchmark on CPU 1; 0 turns it off).
set -euo pipefail

POSTS="${1:-20}"
SECS="${2:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
BENCH_PIN="${BENCH_PIN:-1}"

cd "$ROOT"
. scripts/lib/redis.sh
cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" --target refs_bench
command -v "$REDIS_SERVER" >/dev/null || { echo "bench-refs.sh: $REDIS_SERVER not found" >&2; exit 1; }

kvorm_bench_pins

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench-refs.XXXXXX")"
cleanup() {
  kvorm_stop_redis
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kvorm_start_redis "$TMP" "${SERVER_PIN[@]}"
echo "redis-server pid $redis_pid on port $redis_port; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"${CLIENT_PIN[@]}" "$BUILD_DIR/benchmarks/refs_bench" "redis://127.0.0.1:$redis_port" --posts "$POSTS" \
  --seconds "$SECS"
kvorm_stop_redis
echo
"${CLIENT_PIN[@]}" "$BUILD_DIR/benchmarks/refs_bench" "lmdb://$TMP/lmdb" --sqlite "$TMP/refs.sqlite" \
  --posts "$POSTS" --seconds "$SECS"
exit 0
