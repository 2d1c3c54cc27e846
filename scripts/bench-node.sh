#!/usr/bin/env bash
# Runs benchmarks/node/bench.js against a private redis-server (a free port, a temp dir, no persistence), stopped
# by its pid at the end. Usage: scripts/bench-node.sh [seconds-per-side]   (default 2)
# Installs the bench's dependencies (npm ci) if needed; the addon must be built (npm ci in node/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/redis.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-node-bench.XXXXXX")
redis_pid=""
trap 'kvorm_stop_redis; rm -rf "$tmp"' EXIT

[ -d benchmarks/node/node_modules ] || (cd benchmarks/node && npm ci --no-fund --no-audit)
# With two CPUs or more, the server on CPU 0 and the bench on the others, as scripts/bench.sh does.
pin_server=() pin_bench=()
if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0)
  pin_bench=(taskset -c "1-$(($(nproc) - 1))")
fi
kvorm_start_redis "$tmp" "${pin_server[@]}"
echo "redis-server pid $redis_pid on port $redis_port"
(cd benchmarks/node && "${pin_bench[@]}" node bench.js "redis://127.0.0.1:$redis_port" "${1:-2}")
