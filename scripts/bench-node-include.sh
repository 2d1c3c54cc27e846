#!/usr/bin/env bash
# Runs benchmarks/node/include_bench.js (findMany of users with an include of their latest posts: kvorm beside
# Farming Labs ORM's relation selection) against a private redis-server (scripts/lib/node-bench.sh).
# Usage: scripts/bench-node-include.sh [seconds-per-side] [users] [posts-per-user] [take]   (default 2 100 20 10)
# Exits 0 when the run completed (the ratios are reported, not judged).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/redis.sh
. scripts/lib/node-bench.sh
kvorm_node_bench include_bench.js "${1:-2}" "${2:-100}" "${3:-20}" "${4:-10}"
