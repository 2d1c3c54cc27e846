#!/usr/bin/env bash
# Every test of the Node package, from a clean checkout, in the order a failure is cheapest to find:
#   1. wrapper   bindings/node/kvorm_wrap.cxx is what the pinned SWIG makes of bindings/kvorm.i
#   2. build     `npm ci` in node/ (the addon is built by its install script, node/scripts/install.js: cmake-js,
#                Node-API headers from npm); nothing may be downloaded into ~/.cmake-js or ~/.cache/node-gyp, and
#                nothing copied into node/native
#   3. tests     node --test tests/node/ (each test file starts its own redis-server)
#   4. install   each way an application installs the package, each in a fresh temp directory with only npm's
#                registry for the dependencies, then require() + create + findUnique against a redis-server this
#                script starts on a free port (and stops by its pid):
#                  tarball  `npm pack` in node/, `npm install <tarball>`; CommonJS and ES module smoke tests
#                  path     `npm install ../kvorm/node` from a copy of the work tree (npm links the folder), then
#                           `npm rebuild kvorm` there
#                  git      `npm install git+file://<bare repo>#<commit>::path:node`, the repo made from that copy
#                  hint     the tarball installed with --ignore-scripts: require() says the addon is not built and
#                           names an npm command; that command, run as given, builds it
#                  README   the ```js block of README.md's Node.js section, as is, as a file of its own in the
#                           tarball's app, run from the repository root with REDIS_URL set
#   5. types     tsc --noEmit on tests/node/typed.ts
# Exits non-zero on the first failure and prints one summary line either way.
# Assumes the Debian packages of scripts/setup-debian.sh, node >= 20.17, npm and git. KVORM_JOBS (default 2) sets
# the build parallelism.
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
check_no_headers() {
  local after_headers
  after_headers=$(ls -d "${header_dirs[@]}" 2>/dev/null || true)
  if [ "$before_headers" != "$after_headers" ]; then
    echo "test-node.sh: a build downloaded Node headers into: $after_headers" >&2
    exit 1
  fi
  echo "no Node headers downloaded (node-api-headers from npm)"
}
no_native_copy() {
  if git status --porcelain --ignored node/native 2>/dev/null | grep . >/dev/null; then
    echo "test-node.sh: $1 left node/native behind" >&2
    exit 1
  fi
}
(cd node && npm ci --no-fund --no-audit)
test -f node/build/Release/kvorm_native.node
check_no_headers
no_native_copy "npm ci"
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

banner "4/5 install: tarball, path, git URL, the not-built hint, the README example"
mkdir -p "$tmp/redis"
kvorm_start_redis "$tmp/redis"
echo "redis-server pid $redis_pid on port $redis_port"
schema="$root/examples/app.schema.json"

# A fresh application directory.
new_app() {
  mkdir "$1"
  (cd "$1" && npm init -y >/dev/null)
}

# The CommonJS smoke test, written into the app (require() resolves from the file): create + findUnique, each way
# in a Redis db of its own.
cjs_smoke() {
  local app=$1 db=$2 way=$3
  cat >"$app/smoke.cjs" <<'EOF'
const kvorm = require('kvorm');
(async () => {
  const [url, schema, email] = process.argv.slice(2);
  const db = await kvorm.open(url, { schema });
  const ann = await db.User.create({ data: { email, name: 'Ann' } });
  const found = await db.User.findUnique({ where: { email } });
  if (found.id !== ann.id) throw new Error('findUnique returned another record');
  await db.close();
  console.log(`cjs smoke (${email}): ok`, kvorm.version, require.resolve('kvorm'));
})().catch((err) => { console.error(err); process.exit(1); });
EOF
  (cd "$app" && node smoke.cjs "redis://127.0.0.1:$redis_port/$db" "$schema" "$way@example.com")
  passed=$((passed + 1))
}

# The work tree as a checkout has it: tracked and untracked files, nothing ignored (no node_modules, build or
# native).
snapshot() {
  mkdir -p "$1"
  git ls-files -z -co --exclude-standard --deduplicate |
    while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
    tar --null -T - -cf - | tar -xf - -C "$1"
}

echo "--- tarball: npm pack in node/, npm install <tarball>"
(cd node && npm pack --pack-destination "$tmp")
no_native_copy "npm pack"
tarball=$(ls "$tmp"/kvorm-*.tgz)
tar -tzf "$tarball" | grep -x 'package/native/core/include/kvorm.h' >/dev/null
new_app "$tmp/app"
(cd "$tmp/app" && npm install --no-fund --no-audit "$tarball")
cjs_smoke "$tmp/app" 0 tarball
cat >"$tmp/app/smoke.mjs" <<'EOF'
import kvorm, { open, UniqueViolationError, UnavailableError } from 'kvorm';
const db = await open(process.argv[2], { schema: process.argv[3] });
await db.User.create({ data: { email: 'esm@example.com', name: 'Ann' } });
const err = await db.User.create({ data: { email: 'esm@example.com', name: 'Ann' } }).catch((e) => e);
if (!(err instanceof UniqueViolationError) || !(err instanceof kvorm.KvormError)) throw new Error(`got ${err}`);
if (err.retryable !== false || UnavailableError !== kvorm.UnavailableError) throw new Error('retryable');
if ((await db.User.count()) !== 1) throw new Error('count is not 1');
await db.close();
console.log('esm smoke: ok', kvorm.version);
EOF
(cd "$tmp/app" && node smoke.mjs "redis://127.0.0.1:$redis_port/5" "$schema")
passed=$((passed + 1))

echo "--- path: npm install ../kvorm/node (a checkout), then npm rebuild kvorm"
snapshot "$tmp/kvorm"
# The repository of the git way is made now, before the path install adds (ignored) files to the copy.
(cd "$tmp/kvorm" && git init -q -b main && git add -A &&
  git -c user.name=kvorm-test -c user.email=kvorm-test@localhost commit -q -m "the work tree")
git clone -q --bare "$tmp/kvorm" "$tmp/kvorm.git"
new_app "$tmp/app-path"
(cd "$tmp/app-path" && npm install --no-fund --no-audit ../kvorm/node)
test -L "$tmp/app-path/node_modules/kvorm" # npm linked the folder, as it does for a path outside the app
cjs_smoke "$tmp/app-path" 2 path
rm -rf "$tmp/kvorm/node/build"
(cd "$tmp/app-path" && npm rebuild kvorm)
cjs_smoke "$tmp/app-path" 2 rebuilt

echo "--- git: npm install git+file://.../kvorm.git#<commit>::path:node"
commit=$(git -C "$tmp/kvorm.git" rev-parse HEAD)
new_app "$tmp/app-git"
(cd "$tmp/app-git" && npm install --no-fund --no-audit "git+file://$tmp/kvorm.git#$commit::path:node")
test -f "$tmp/app-git/node_modules/kvorm/build/Release/kvorm_native.node"
cjs_smoke "$tmp/app-git" 3 git

echo "--- hint: installed with --ignore-scripts, require() names the command that builds the addon"
new_app "$tmp/app-hint"
(cd "$tmp/app-hint" && npm install --no-fund --no-audit --ignore-scripts "$tarball")
if hint=$(cd "$tmp/app-hint" && node -e "require('kvorm')" 2>&1); then
  echo "test-node.sh: require('kvorm') worked without the addon" >&2
  exit 1
fi
fix=$(grep -o '`npm rebuild kvorm[^`]*`' <<<"$hint" | head -n 1 | tr -d '`' || true)
if [ -z "$fix" ]; then
  echo "test-node.sh: the error names no npm command: $hint" >&2
  exit 1
fi
echo "the error says to run: $fix"
(cd "$tmp/app-hint" && $fix)
cjs_smoke "$tmp/app-hint" 4 hint
check_no_headers

echo "--- README: the Node.js section's example as is"
awk '/^## Node.js$/ {section = 1} section && /^```js$/ {on = 1; next} on && /^```$/ {exit} on {print}' \
  README.md >"$tmp/app/example.js"
cat "$tmp/app/example.js"
readme_out=$(REDIS_URL="redis://127.0.0.1:$redis_port/1" node "$tmp/app/example.js")
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
