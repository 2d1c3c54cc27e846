'use strict';
// prepack: the tarball is built from node/, but the addon's install-time build needs the core (its CMake project)
// and the committed SWIG wrapper, which live outside node/. This copies them into node/native/ (git-ignored);
// postpack (--clean) removes the copies again.

const fs = require('node:fs');
const path = require('node:path');

const packageRoot = path.join(__dirname, '..');
const repoRoot = path.join(packageRoot, '..');
const target = path.join(packageRoot, 'native');

// What the build reads, relative to the repository root.
const NEEDED = [
  'CMakeLists.txt',
  'LICENSE',
  'cmake',
  'core/CMakeLists.txt',
  'core/include',
  'core/src',
  'bindings/node/kvorm_wrap.cxx',
];

fs.rmSync(target, { recursive: true, force: true });
if (process.argv[2] !== '--clean') {
  for (const item of NEEDED) {
    fs.cpSync(path.join(repoRoot, item), path.join(target, item), { recursive: true });
  }
  console.log(`copy-native: copied ${NEEDED.join(', ')} into native/`);
}
