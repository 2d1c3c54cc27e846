#!/usr/bin/env bash
# Every test of the Node package, from a clean checkout, in the order a failure is cheapest to find:
#   1. wrapper   bindings/node/kvorm_wrap.cxx is what the pinned SWIG makes of bindings/kvorm.i
#   2. build     `npm ci` in node/ (the addon is built by its install script: cmake-js, Node-API headers from npm);
#                nothing may be downloaded into ~/.cmake-js or ~/.cache/node-gyp
#   3. tests     node --test tests/node/ (each test file starts its own redis-server)
#   4. package   npm pack, npm install of the tarball in a fresh temp dir, require() and import smoke tests against
#                a redis-server this script starts on a free port (and stops by its pid)
#   5. types     tsc --noEmit on tests/node/typed.ts
# Exits non-zero on the first failure and prints one summary line either way.
# Assumes the Debian packages of scripts/setup-debian.sh, node >= 20.17 and npm. KVORM_JOBS (default 2) sets the
# build parallelism.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
. scripts/lib/redis.sh

export CMAKE_BUILD_PARALLEL_LEVEL=${KVORM_JOBS:-2}
started=$SECONDS
step="setup"
tmp=""
redis_pid=""
passed=0

cleanup() {
  local rc=$?
  kvorm_stop_redis
  [ -n "$tmp" ] && rm -rf "$tmp"
  if [ "$rc" -eq 0 ]; then
    echo "test-node.sh: PASS in $((SECONDS - started))s"
    echo "node: $passed passed, 0 failed"
  else
    echo "test-node.sh: FAIL during '$step' (exit $rc) after $((SECONDS - started))s" >&2
    echo "node: $passed passed, 1 failed"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

banner() {
  step=$1
  printf '\n=== %s (%ss)\n' "$1" "$((SECONDS - started))"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-node-test.XXXXXX")

banner "1/5 generated wrapper up to date"
scripts/gen-node-wrapper.sh --check
passed=$((passed + 1))

banner "2/5 npm ci + addon build (node/)"
header_dirs=("$HOME/.cmake-js" "$HOME/.cache/node-gyp")
before_headers=$(ls -d "${header_dirs[@]}" 2>/dev/null || true)
(cd node && npm ci --no-fund --no-audit)
test -f node/build/Release/kvorm_native.node
after_headers=$(ls -d "${header_dirs[@]}" 2>/dev/null || true)
if [ "$before_headers" != "$after_headers" ]; then
  echo "test-node.sh: the build downloaded Node headers into: $after_headers" >&2
  exit 1
fi
echo "no Node headers downloaded (node-api-headers from npm)"
passed=$((passed + 1))

banner "3/5 node --test tests/node/"
node --test --test-reporter=tap tests/node/ | tee "$tmp/tests.tap" | grep -E '^(not )?ok |^# (tests|pass|fail)'
tests_failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tmp/tests.tap")
tests_passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tmp/tests.tap")
if [ "${tests_failed:-1}" != 0 ] || [ -z "$tests_passed" ]; then
  grep -A 30 '^not ok' "$tmp/tests.tap" >&2 || true
  exit 1
fi
passed=$((passed + tests_passed))

banner "4/5 npm pack + install in a fresh directory + require/import + the README example"
(cd node && npm pack --pack-destination "$tmp")
if git status --porcelain --ignored node/native 2>/dev/null | grep . >/dev/null; then
  echo "test-node.sh: npm pack left node/native behind" >&2
  exit 1
fi
mkdir "$tmp/app"
(cd "$tmp/app" && npm init -y >/dev/null && npm install --no-fund --no-audit "$tmp"/kvorm-*.tgz)
mkdir -p "$tmp/redis"
kvorm_start_redis "$tmp/redis"
echo "redis-server pid $redis_pid on port $redis_port"
cat >"$tmp/app/smoke.cjs" <<'EOF'
const kvorm = require('kvorm');
(async () => {
  const db = await kvorm.open(process.argv[2], { schema: process.argv[3] });
  const ann = await db.User.create({ data: { email: 'cjs@example.com', name: 'Ann' } });
  const found = await db.User.findUnique({ where: { email: 'cjs@example.com' } });
  if (found.id !== ann.id) throw new Error('findUnique returned another record');
  await db.close();
  console.log('cjs smoke: ok', kvorm.version);
})().catch((err) => { console.error(err); process.exit(1); });
EOF
cat >"$tmp/app/smoke.mjs" <<'EOF'
import kvorm, { open, UniqueViolationError } from 'kvorm';
const db = await open(process.argv[2], { schema: process.argv[3] });
await db.User.create({ data: { email: 'esm@example.com', name: 'Ann' } });
const err = await db.User.create({ data: { email: 'esm@example.com', name: 'Ann' } }).catch((e) => e);
if (!(err instanceof UniqueViolationError) || !(err instanceof kvorm.KvormError)) throw new Error(`got ${err}`);
if ((await db.User.count()) !== 2) throw new Error('count is not 2');
await db.close();
console.log('esm smoke: ok', kvorm.version);
EOF
(cd "$tmp/app" && node smoke.cjs "redis://127.0.0.1:$redis_port/0" "$root/examples/app.schema.json")
passed=$((passed + 1))
(cd "$tmp/app" && node smoke.mjs "redis://127.0.0.1:$redis_port/0" "$root/examples/app.schema.json")
passed=$((passed + 1))
# The README's Node example, taken from README.md as is (wrapped for CommonJS), so it cannot drift.
{
  echo "(async () => {"
  awk '/^```js$/ {on = 1; next} on && /^```$/ {exit} on {print}' "$root/README.md" |
    sed -e "s|redis://127.0.0.1:6379/0|redis://127.0.0.1:$redis_port/1|" -e "s|'examples/|'$root/examples/|"
  echo "})().catch((err) => { console.error(err); process.exit(1); });"
} >"$tmp/app/readme.cjs"
readme_out=$(cd "$tmp/app" && node readme.cjs)
echo "$readme_out"
if ! grep -q "email: 'ann@example.com'" <<<"$readme_out" || ! grep -q "age: 32" <<<"$readme_out"; then
  echo "test-node.sh: the README example did not print the updated record" >&2
  exit 1
fi
passed=$((passed + 1))

banner "5/5 tsc --noEmit tests/node/typed.ts"
node/node_modules/.bin/tsc --noEmit -p tests/node/tsconfig.json
echo "typed.ts: the declarations type-check"
passed=$((passed + 1))

step="done"
