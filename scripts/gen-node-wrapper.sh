#!/usr/bin/env bash
# Regenerates bindings/node/kvorm_wrap.cxx from bindings/kvorm.i with a pinned SWIG from PyPI (Debian's SWIG 4.1
# has no Node-API backend), installed in a venv of its own.
#   scripts/gen-node-wrapper.sh           rewrite the committed wrapper
#   scripts/gen-node-wrapper.sh --check   regenerate into a temp dir; fail if it differs from the committed one
# Environment: KVORM_SWIG_VENV (default /tmp/kvorm-node-venv) is where the venv lives.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

swig_version=4.5.1
venv=${KVORM_SWIG_VENV:-/tmp/kvorm-node-venv}
committed=bindings/node/kvorm_wrap.cxx

if [ "$("$venv/bin/swig" -version 2>/dev/null | sed -n 's/^SWIG Version //p')" != "$swig_version" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "swig==$swig_version"
fi

generate() {
  "$venv/bin/swig" -javascript -napi -c++ -Icore/include -o "$1" bindings/kvorm.i
}

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvorm-node-gen.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  generate "$tmp/kvorm_wrap.cxx"
  if ! diff -u "$committed" "$tmp/kvorm_wrap.cxx" >"$tmp/diff"; then
    head -n 40 "$tmp/diff" >&2
    echo "gen-node-wrapper: $committed is out of date: run scripts/gen-node-wrapper.sh" >&2
    exit 1
  fi
  echo "gen-node-wrapper: $committed is up to date (SWIG $swig_version)"
else
  mkdir -p "$(dirname "$committed")"
  generate "$committed"
  echo "gen-node-wrapper: wrote $committed (SWIG $swig_version)"
fi
