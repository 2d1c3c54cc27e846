'use strict';
// A package whose addon was never built (npm skipped kvorm's install script) says so when it is required, and
// names the commands that build it. (scripts/test-node.sh runs those commands in a fresh application, and
// installs the package from a path, from its tarball and from a git URL.)

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { repoRoot } = require('./helpers/env');

test('require() of a package without its addon says how to build it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-unbuilt-'));
  try {
    const copy = path.join(dir, 'node_modules', 'kvorm');
    for (const item of ['package.json', 'index.js', 'lib']) {
      fs.cpSync(path.join(repoRoot, 'node', item), path.join(copy, item), { recursive: true });
    }
    const err = (() => {
      try {
        require(copy);
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof Error, 'require() threw');
    assert.match(err.message, /native addon .*kvorm_native\.node is not built/);
    assert.match(err.message, /npm did not run kvorm's install script/);
    assert.ok(err.message.includes('`npm rebuild kvorm --ignore-scripts=false`'), err.message);
    assert.ok(err.message.includes('`npm install-scripts approve kvorm`'), err.message);
    assert.ok(err.message.includes(`\`node ${path.join(copy, 'scripts', 'install.js')}\``), err.message);
    assert.match(err.message, /libhiredis-dev liblmdb-dev libmsgpack-dev libjansson-dev/);
    assert.equal(err.cause?.code, 'MODULE_NOT_FOUND');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
