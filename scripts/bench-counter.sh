#!/usr/bin/env bash
# Builds counter_bench, starts a private redis-server (free port, temp dir, no persistence) and runs the counter
# benchmark over TCP: N writers incrementing one counter with kvorm's atomic increment, beside raw HINCRBY and
# beside a read-modify-write with ifVersion. Stops only the server it started.
#
#   scripts/bench-counter.sh [threads] [seconds-per-way]     (default 8 2)
#
# Environment: BUILD_DIR (default: build), REDIS_SERVER (default: redis-server), BENCH_PIN (default 1: with taskset
# and two CPUs or more, the server runs on CPU 0 and the benchmark on CPU 1; 0 turns it off).
set -euo pipefail

THREADS="${1:-8}"
SECS="${2:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
BENCH_PIN="${BENCH_PIN:-1}"

cd "$ROOT"
. scripts/lib/redis.sh
cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" --target counter_bench
command -v "$REDIS_SERVER" >/dev/null || { echo "bench-counter.sh: $REDIS_SERVER not found" >&2; exit 1; }

kvorm_bench_pins

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench-counter.XXXXXX")"
cleanup() {
  kvorm_stop_redis
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kvorm_start_redis "$TMP" "${SERVER_PIN[@]}"
echo "redis-server pid $redis_pid on port $redis_port; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"${CLIENT_PIN[@]}" "$BUILD_DIR/benchmarks/counter_bench" "redis://127.0.0.1:$redis_port" --threads "$THREADS" \
  --seconds "$SECS"
exit 0
