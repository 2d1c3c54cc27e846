#!/usr/bin/env bash
# Runs benchmarks/node/query_bench.js (findMany at 10k records: kvorm beside raw ioredis and Farming Labs ORM)
# against a private redis-server (scripts/lib/node-bench.sh).
# Usage: scripts/bench-node-query.sh [seconds-per-side] [records]   (default 2 s, 10000 records)
# Exits 0 when the run completed (the ratios are reported, not judged).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/redis.sh
. scripts/lib/node-bench.sh
kvorm_node_bench query_bench.js "${1:-2}" "${2:-10000}"
