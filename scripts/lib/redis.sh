# Sourced by the scripts: a redis-server of our own on a free loopback port and a unix socket in a directory of
# ours, no persistence, stopped by its pid. Nothing else is touched.

# kvorm_bench_pins: sets SERVER_PIN and CLIENT_PIN, the launchers that put a benchmark's server on CPU 0 and its
# client on CPU 1 (`taskset -c N`), or empty arrays when BENCH_PIN is 0, taskset is missing or there is one CPU.
kvorm_bench_pins() {
  SERVER_PIN=()
  CLIENT_PIN=()
  if [[ "${BENCH_PIN:-1}" != 0 ]] && command -v taskset >/dev/null && [[ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]]; then
    SERVER_PIN=(taskset -c 0)
    CLIENT_PIN=(taskset -c 1)
  fi
}

# kvorm_start_redis DIR [LAUNCHER...]: starts the server (LAUNCHER, e.g. `taskset -c 0`, goes before it) and sets
# redis_pid, redis_port and redis_sock. REDIS_SERVER names another server binary.
kvorm_start_redis() {
  local dir=$1 attempt port i
  shift
  for attempt in $(seq 1 20); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue # something listens there already
    fi
    "$@" "${REDIS_SERVER:-redis-server}" --port "$port" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" \
      --unixsocketperm 700 --dir "$dir" --save '' --appendonly no --daemonize no --logfile "$dir/redis.log" \
      </dev/null &
    redis_pid=$!
    for i in $(seq 1 100); do
      kill -0 "$redis_pid" 2>/dev/null || break
      # Our server answers with our pid, not some other server that won a race for the port.
      if redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -x "process_id:$redis_pid" >/dev/null; then
        redis_port=$port
        redis_sock=$dir/redis.sock
        return 0
      fi
      sleep 0.05
    done
    kvorm_stop_redis
  done
  echo "could not start ${REDIS_SERVER:-redis-server} on a free port" >&2
  [ -f "$dir/redis.log" ] && tail -n 20 "$dir/redis.log" >&2
  return 1
}

kvorm_stop_redis() {
  if [ -n "${redis_pid:-}" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  fi
}
