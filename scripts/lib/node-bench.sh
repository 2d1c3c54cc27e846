# Runs one of benchmarks/node's scripts against a private redis-server (a free port, a temp dir, no persistence),
# stopped by its pid at the end: kvorm_node_bench SCRIPT ARGS... runs `node SCRIPT redis://127.0.0.1:PORT ARGS...`
# in benchmarks/node. Installs the bench's dependencies (npm ci) if needed; the addon must be built (npm ci in
# node/). With two CPUs or more, the server runs on CPU 0 and the bench on the others, as scripts/bench.sh does.
# Sourced from the repository's root, after scripts/lib/redis.sh.
kvorm_node_bench() {
  local script=$1
  shift
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-node-bench.XXXXXX")
  redis_pid=""
  trap 'kvorm_stop_redis; rm -rf "$tmp"' EXIT
  [ -d benchmarks/node/node_modules ] || (cd benchmarks/node && npm ci --no-fund --no-audit)
  local pin_server=() pin_bench=()
  if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 0)
    pin_bench=(taskset -c "1-$(($(nproc) - 1))")
  fi
  kvorm_start_redis "$tmp" "${pin_server[@]}"
  echo "redis-server pid $redis_pid on port $redis_port; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd benchmarks/node && "${pin_bench[@]}" node "$script" "redis://127.0.0.1:$redis_port" "$@")
}
