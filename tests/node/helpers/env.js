'use strict';
// What the tests load: the package under test (node/, built by `npm ci` there) and its devDependencies, resolved
// from node/ because tests/node has no node_modules of its own.

const path = require('node:path');
const { createRequire } = require('node:module');

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const packageRoot = path.join(repoRoot, 'node');
const requireFromPackage = createRequire(path.join(packageRoot, 'package.json'));

module.exports = {
  repoRoot,
  kvorm: require(packageRoot),
  Redis: requireFromPackage('ioredis'),
  appSchemaPath: path.join(repoRoot, 'examples', 'app.schema.json'),
  vectorsPath: path.join(repoRoot, 'tests', 'vectors', 'values.json'),
};
