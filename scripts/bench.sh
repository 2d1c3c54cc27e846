#!/usr/bin/env bash
# Builds redis_bench, starts a private redis-server (free port, temp dir, no persistence) and runs the benchmark
# over TCP and over a unix socket. Stops only the server it started.
#
#   scripts/bench.sh [seconds-per-case]
#
# Environment: BUILD_DIR (default: build), REDIS_SERVER (default: redis-server), CMAKE_ARGS (extra configure
# arguments, e.g. "-DKVORM_BUILD_TESTS=OFF -DKVORM_BUILD_EXAMPLES=OFF"), BENCH_PIN (default 1: with taskset and
# two CPUs or more, the server runs on CPU 0 and the benchmark on CPU 1, which makes the numbers much steadier;
# 0 turns it off).
# Exits 0 when both runs completed (a MISS against a target is reported, not a failure); non-zero when the build,
# the server or a run fails.
set -euo pipefail

SECS="${1:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
BENCH_PIN="${BENCH_PIN:-1}"

cd "$ROOT"
. scripts/lib/redis.sh
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" --target redis_bench
BENCH="$BUILD_DIR/benchmarks/redis_bench"

command -v "$REDIS_SERVER" >/dev/null || { echo "bench.sh: $REDIS_SERVER not found" >&2; exit 1; }

kvorm_bench_pins

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench.XXXXXX")"
cleanup() {
  kvorm_stop_redis
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kvorm_start_redis "$TMP" "${SERVER_PIN[@]}"
PORT=$redis_port
SOCK=$redis_sock

[[ ${#CLIENT_PIN[@]} -gt 0 ]] && echo "(redis-server pinned to CPU 0, redis_bench to CPU 1)"
echo "== TCP =="
"${CLIENT_PIN[@]}" "$BENCH" "redis://127.0.0.1:$PORT" "$SECS"
echo
echo "== unix socket =="
"${CLIENT_PIN[@]}" "$BENCH" "unix://$SOCK" "$SECS"
exit 0
