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
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" --target redis_bench
BENCH="$BUILD_DIR/benchmarks/redis_bench"

command -v "$REDIS_SERVER" >/dev/null || { echo "bench.sh: $REDIS_SERVER not found" >&2; exit 1; }

SERVER_PIN=()
CLIENT_PIN=()
if [[ "$BENCH_PIN" != 0 ]] && command -v taskset >/dev/null && [[ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]]; then
  SERVER_PIN=(taskset -c 0)
  CLIENT_PIN=(taskset -c 1)
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kvorm-bench.XXXXXX")"
SOCK="$TMP/redis.sock"
REDIS_PID=""
cleanup() {
  if [[ -n "$REDIS_PID" ]]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Is something listening on 127.0.0.1:$1? (bash's /dev/tcp; no extra tools needed)
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts the server on a random free port; retries if the port was taken meanwhile (the server then exits).
PORT=""
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % 40000))
  port_busy "$candidate" && continue
  "${SERVER_PIN[@]}" "$REDIS_SERVER" --port "$candidate" --bind 127.0.0.1 --unixsocket "$SOCK" --unixsocketperm 700 \
    --dir "$TMP" --save "" --appendonly no --daemonize no --logfile "$TMP/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    if ! kill -0 "$REDIS_PID" 2>/dev/null; then break; fi
    if [[ -S "$SOCK" ]] && port_busy "$candidate"; then PORT="$candidate"; break; fi
    sleep 0.05
  done
  [[ -n "$PORT" ]] && break
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
done
if [[ -z "$PORT" ]]; then
  echo "bench.sh: could not start $REDIS_SERVER" >&2
  [[ -f "$TMP/redis.log" ]] && tail -n 20 "$TMP/redis.log" >&2
  exit 1
fi

[[ ${#CLIENT_PIN[@]} -gt 0 ]] && echo "(redis-server pinned to CPU 0, redis_bench to CPU 1)"
echo "== TCP =="
"${CLIENT_PIN[@]}" "$BENCH" "redis://127.0.0.1:$PORT" "$SECS"
echo
echo "== unix socket =="
"${CLIENT_PIN[@]}" "$BENCH" "unix://$SOCK" "$SECS"
exit 0
