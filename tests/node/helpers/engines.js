'use strict';
// The behaviour tests run on every engine, parameterized, not copied: engineTests(() => redis) gives a `test`
// that defines each test once per engine and hands it a store, whose url(n) is the session's redis-server (its
// database n) or an LMDB environment of the test's own (one per n, removed when the file is done). Tests that read
// raw Redis keys or drive a proxy stay plain `test`s: they are Redis-only. An LMDB store also gives dir(n), the
// directory of url(n) (to open it again with other URL parameters, as readonly=1); tempDir() is a directory of
// the test's own, removed with the others.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test, after } = require('node:test');

const ENGINES = ['redis', 'lmdb'];
const dirs = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix = 'kvorm-node-lmdb-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function lmdbStore() {
  const paths = new Map();
  const dir = (n = 0) => {
    if (!paths.has(n)) paths.set(n, tempDir());
    return paths.get(n);
  };
  return {
    engine: 'lmdb',
    dir,
    url: (n = 0) => `lmdb://${dir(n)}?sync=nosync&mapsize=16777216`,
  };
}

function engineTests(redis) {
  return (name, fn) => {
    for (const engine of ENGINES) {
      test(`${name} [${engine}]`, () => fn(engine === 'redis' ? { engine, url: (n) => redis().url(n) } : lmdbStore()));
    }
  };
}

module.exports = { engineTests, tempDir, ENGINES };
