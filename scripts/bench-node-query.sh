#!/usr/bin/env bash
# Runs benchmarks/node/query_bench.js (findMany at 10k records: kvorm beside raw ioredis and Farming Labs ORM)
# against a private redis-server (a free port, a temp dir, no persistence), stopped by its pid at the end.
# Usage: scripts/bench-node-query.sh [seconds-per-side] [records]   (default 2 s, 10000 records)
# Installs the bench's dependencies (npm ci) if needed; the addon must be built (npm ci in node/).
# Exits 0 when the run completed (the ratios are reported, not judged).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/redis.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-node-query.XXXXXX")
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
echo "redis-server pid $redis_pid on port $redis_port; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd benchmarks/node && "${pin_bench[@]}" node query_bench.js "redis://127.0.0.1:$redis_port" "${1:-2}" "${2:-10000}")
