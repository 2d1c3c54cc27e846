#!/usr/bin/env bash
# Python benchmark (benchmarks/python): installs ./python and redis-py with its hiredis parser into a venv under
# /tmp, starts a private redis-server (free port, temp dir, no persistence), runs benchmarks/python/bench.py over
# TCP and over a unix socket, and stops that server by its pid.
#
# Usage: scripts/bench-python.sh [seconds-per-case]   (default 4)
# Environment: BENCH_PIN=0 turns off pinning the server to CPU 0 and the benchmark to CPU 1 (with taskset and two
# CPUs or more); BENCH_VENV (default /tmp/kvorm-py-bench-venv) is reused between runs; REDIS_SERVER as in
# scripts/lib/redis.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
. scripts/lib/redis.sh
. scripts/lib/pyvenv.sh
seconds=${1:-4}
venv=${BENCH_VENV:-/tmp/kvorm-py-bench-venv}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-py-bench.XXXXXX")
redis_pid=""

cleanup() {
  kvorm_stop_redis
  rm -rf "$tmp"
}
trap cleanup EXIT

kvorm_py_venv "$venv" "$tmp" "redis==6.4.0" "hiredis==3.5.0"

server_pin=()
bench_pin=()
if [ "${BENCH_PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_pin=(taskset -c 0)
  bench_pin=(taskset -c 1)
fi
mkdir -p "$tmp/redis"
kvorm_start_redis "$tmp/redis" "${server_pin[@]}"
echo "redis-server pid $redis_pid, port $redis_port, socket $redis_sock; $(redis-server --version | cut -d' ' -f3)"
"${bench_pin[@]}" "$venv/bin/python" benchmarks/python/bench.py "redis://127.0.0.1:$redis_port/0" "$seconds"
"${bench_pin[@]}" "$venv/bin/python" benchmarks/python/bench.py "unix://$redis_sock" "$seconds"
"${bench_pin[@]}" "$venv/bin/python" benchmarks/python/bench_aio.py "redis://127.0.0.1:$redis_port/0" "$seconds"
