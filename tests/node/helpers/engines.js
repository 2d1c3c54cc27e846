'use strict';
// The behaviour tests run on every engine, parameterized, not copied: engineTests(() => redis) gives a `test`
// that defines each test once per engine and hands it a store, whose url(n) is the session's redis-server (its
// database n) or an LMDB environment of the test's own (one per n, removed when the file is done). Tests that read
// raw Redis keys or drive a proxy stay plain `test`s: they are Redis-only.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test, after } = require('node:test');

const ENGINES = ['redis', 'lmdb'];
const dirs = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function lmdbStore() {
  const urls = new Map();
  return {
    engine: 'lmdb',
    url(n = 0) {
      if (!urls.has(n)) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-lmdb-'));
        dirs.push(dir);
        urls.set(n, `lmdb://${dir}?sync=nosync&mapsize=16777216`);
      }
      return urls.get(n);
    },
  };
}

function engineTests(redis) {
  return (name, fn) => {
    for (const engine of ENGINES) {
      test(`${name} [${engine}]`, () => fn(engine === 'redis' ? { engine, url: (n) => redis().url(n) } : lmdbStore()));
    }
  };
}

module.exports = { engineTests, ENGINES };
