#!/usr/bin/env bash
# Installs what kvorm needs to build and test on Debian 12 (bookworm): a C/C++ toolchain, CMake, Ninja,
# pkg-config, hiredis, LMDB, msgpack-c, jansson, GoogleTest, redis-server, clang 14 with its sanitizer and libFuzzer
# runtimes (libclang-rt-14-dev) and llvm-symbolizer (llvm-14) for scripts/fuzz.sh, Python (venv) for the header
# check and the Python package, and Node.js with npm for the Node package (Debian's nodejs and npm, only when the
# machine has no node and npm of its own: Node-API needs Node >= 18).
#
# Runs as root, or through sudo when not root. Non-interactive (no stdin needed). When every package is already
# installed it does nothing, so scripts/test.sh and scripts/demo.sh can call it on every run; set
# KVORM_FORCE_SETUP=1 to run apt-get anyway.
#
# Installing redis-server may start the system's Redis service. Nothing in kvorm uses it: the tests, the demo and
# scripts/test.sh start their own redis-server on a free port and stop only that one.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libhiredis-dev liblmdb-dev libmsgpack-dev libjansson-dev libgtest-dev libsqlite3-dev lmdb-utils
  redis-server python3 python3-venv
  clang-14 libclang-rt-14-dev llvm-14
)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ] && [ "${KVORM_FORCE_SETUP:-0}" != 1 ]; then
  echo "setup-debian: all packages already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-debian: apt-get not found; install these packages by hand: ${packages[*]}" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-debian: not root and sudo is not installed; run as root" >&2
    exit 1
  fi
  sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-debian: installing ${packages[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" </dev/null
