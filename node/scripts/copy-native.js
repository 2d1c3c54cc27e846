'use strict';
// prepare (and postpack with --clean): a package made from node/ (npm pack, npm publish, an install from a git
// URL or with --install-links) is built where the rest of the repository is not, but the addon's build needs the
// core (its CMake project) and the committed SWIG wrapper, which live outside node/. This copies them into
// node/native/ (git-ignored, listed in "files"); postpack (--clean) removes the copies again. CMakeLists.txt
// builds from the repository itself whenever it is there, so a copy is only read where the package was unpacked.
//
// npm also runs prepare after `npm install` / `npm ci` in node/ itself: there nothing is packed, and nothing is
// copied.

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

function isOwnInstall() {
  const env = process.env;
  const own = env.npm_config_local_prefix && path.resolve(env.npm_config_local_prefix) === path.resolve(packageRoot);
  return own && env.npm_lifecycle_event === 'prepare' && !['pack', 'publish'].includes(env.npm_command);
}

if (process.argv[2] === '--clean') {
  fs.rmSync(target, { recursive: true, force: true });
} else if (isOwnInstall()) {
  // `npm install` / `npm ci` in node/: the build reads the repository directly.
} else if (!fs.existsSync(path.join(repoRoot, 'core', 'include', 'kvorm.h'))) {
  // Not in the repository (a package being prepared again): what native/ holds is all there is.
  if (!fs.existsSync(path.join(target, 'core', 'include', 'kvorm.h'))) {
    console.error(`copy-native: neither ${repoRoot} nor ${target} holds the core sources`);
    process.exit(1);
  }
} else {
  fs.rmSync(target, { recursive: true, force: true });
  for (const item of NEEDED) {
    fs.cpSync(path.join(repoRoot, item), path.join(target, item), { recursive: true });
  }
  console.error(`copy-native: copied ${NEEDED.join(', ')} into native/`);
}
