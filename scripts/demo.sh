#!/usr/bin/env bash
# The main job, until the kvorm CLI lands: builds the library and examples/hello, runs hello on the embedded store
# (LMDB in a temporary directory: no server) and shows what kvorm stored there; then runs the same program against a
# redis-server of its own on a free port and shows the keys it wrote. The server is stopped by its pid on exit; no
# other Redis is touched. KVORM_DEMO_REDIS=0 leaves the Redis part out.
#
# Environment: KVORM_SKIP_SETUP=1 skips scripts/setup-debian.sh; KVORM_JOBS (default 2) sets build parallelism;
# KVORM_BUILD_DIR (default build) moves the build directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
. scripts/lib/redis.sh

tmp=""
redis_pid=""
redis_port=""

cleanup() {
  local rc=$?
  kvorm_stop_redis
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${KVORM_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup-debian.sh
fi

build=${KVORM_BUILD_DIR:-build}
echo "== build ($build/)"
generator=(-G Ninja)
if [ -f "$build/CMakeCache.txt" ]; then
  generator=() # keep the generator of an existing build directory
fi
cmake -S . -B "$build" "${generator[@]}" -DKVORM_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "${KVORM_JOBS:-2}" --target hello

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-demo.XXXXXX")
store="lmdb://$tmp/embedded"
echo
echo "== $build/examples/hello $store examples/app.schema.json  (the embedded store: no server)"
"$build/examples/hello" "$store" "$root/examples/app.schema.json"
echo
echo "== what kvorm stored in $tmp/embedded (docs/format.md, \"Keys (LMDB)\"): entries per named database"
mdb_stat -a "$tmp/embedded" | awk '/^Status of/ {db = $3} /Entries:/ && db != "Main" {printf "   %-8s %s entries\n", db, $2}'
echo "-- the records (key: namespace, model, id element; value: canonical MessagePack, \$v the version):"
mdb_dump -p -s records "$tmp/embedded" | sed -n '/^HEADER=END/,/^DATA=END/p' | sed '1d;$d'

if [ "${KVORM_DEMO_REDIS:-1}" = 0 ]; then
  exit 0
fi
kvorm_start_redis "$tmp"
url="redis://127.0.0.1:$redis_port"
echo
echo "== redis-server (pid $redis_pid) on port $redis_port, data in $tmp"

echo
echo "== $build/examples/hello $url examples/app.schema.json"
"$build/examples/hello" "$url" "$root/examples/app.schema.json"

cli() { redis-cli -p "$redis_port" --no-raw "$@"; }
echo
echo "== what kvorm stored (docs/format.md)"
echo "-- the keys:"
redis-cli -p "$redis_port" --raw --scan --pattern 'app:*' | sort | while IFS= read -r key; do
  printf '   %-40s %s\n' "$key" "$(redis-cli -p "$redis_port" --raw type "$key")"
done
record=$(redis-cli -p "$redis_port" --raw --scan --pattern 'app:{User}:r:*' | sed -n 1p)
echo "-- HGETALL $record  (field -> canonical MessagePack bytes; \$v is the version):"
cli hgetall "$record"
echo "-- HGETALL app:{User}:u:email  (unique index: email bytes -> id):"
cli hgetall 'app:{User}:u:email'
echo "-- ZRANGE app:{User}:ids 0 -1  (every id of the model):"
cli zrange 'app:{User}:ids' 0 -1
