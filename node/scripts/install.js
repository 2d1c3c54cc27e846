'use strict';
// The install script (`npm install`, `npm rebuild kvorm`, `npm run build`): builds the addon into build/Release
// with cmake-js, run by this node, against the Node-API headers of the node-api-headers and node-addon-api
// packages. It needs only kvorm's regular dependencies, and finds them from this package's own folder, wherever
// npm put them (this folder's node_modules, or the application's).
//
// `npm install ../kvorm/node` (a folder outside the application) makes node_modules/kvorm a symlink to the folder
// and, as npm documents for such a folder, installs none of its dependencies, neither for the build nor for
// require('kvorm') at run time, which Node resolves from the folder's real path. Then this script installs the
// regular dependencies into the folder itself (`npm install --omit=dev --no-save --ignore-scripts` there, which is
// what npm leaves to the user) before it builds.
//
// Run by hand (`node scripts/install.js`) it does the same.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const packageRoot = path.join(__dirname, '..');
const BUILD_DEPENDENCIES = ['cmake-js', 'node-api-headers', 'node-addon-api'];

function say(line) {
  console.error(`kvorm install: ${line}`);
}

function resolvable(name) {
  try {
    require.resolve(`${name}/package.json`, { paths: [packageRoot] });
    return true;
  } catch (err) {
    return err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'; // there, only its package.json is not exported
  }
}

function missingDependencies() {
  const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8'));
  return [...new Set([...Object.keys(dependencies), ...BUILD_DEPENDENCIES])].filter((name) => !resolvable(name));
}

// The environment of the child npm: without the npm_* variables of the npm that runs this script, which describe
// the application's install (its prefix, its command, its options), not this folder's; where to fetch from stays.
const NPM_KEEP = ['cache', 'userconfig', 'globalconfig', 'registry', 'proxy', 'https_proxy', 'noproxy', 'strict_ssl',
  'cafile'].map((name) => `npm_config_${name}`);

function npmEnvironment() {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) =>
    !/^npm_/i.test(key) || NPM_KEEP.includes(key.toLowerCase())));
}

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: packageRoot, stdio: 'inherit', env });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function installDependencies(missing) {
  say(`${missing.join(', ')} not found from ${packageRoot}: npm did not install kvorm's dependencies there (it does ` +
    'not for a folder outside the application, which it links); installing them into that folder');
  const args = ['install', '--omit=dev', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund',
    '--prefix', packageRoot];
  // The npm that runs this script, else the one on the PATH.
  const npmCli = process.env.npm_execpath;
  const status = npmCli && /\.[cm]?js$/.test(npmCli)
    ? run(process.execPath, [npmCli, ...args], npmEnvironment())
    : run('npm', args, npmEnvironment());
  if (status !== 0) {
    say(`\`npm ${args.join(' ')}\` failed in ${packageRoot} (exit ${status})`);
    process.exit(status);
  }
}

function main() {
  const missing = missingDependencies();
  if (missing.length > 0) installDependencies(missing);
  const stillMissing = missingDependencies();
  if (stillMissing.length > 0) {
    say(`still not found from ${packageRoot}: ${stillMissing.join(', ')}`);
    process.exit(1);
  }
  const cmakeJsRoot = path.dirname(require.resolve('cmake-js/package.json', { paths: [packageRoot] }));
  const { bin } = JSON.parse(fs.readFileSync(path.join(cmakeJsRoot, 'package.json'), 'utf8'));
  const cmakeJs = path.join(cmakeJsRoot, typeof bin === 'string' ? bin : bin['cmake-js']);
  const status = run(process.execPath, [cmakeJs, 'compile', '--out', 'build']);
  if (status !== 0) {
    say(`the build failed (exit ${status}): it needs cmake, make or ninja, a C and C++ compiler, pkg-config and ` +
      'the development packages of hiredis, LMDB, msgpack-c and jansson (Debian: cmake g++ pkg-config libhiredis-dev ' +
      'liblmdb-dev libmsgpack-dev libjansson-dev); the compiler\'s errors are above');
    process.exit(status);
  }
}

main();
