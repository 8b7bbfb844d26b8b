#!/usr/bin/env bash
# The README's test line. On a fresh Debian 12 machine: installs what the tests need (Debian's Chromium for
# the browser tests, mockupdb + mongomock for the MongoDB wire test server, the npm dependencies), then runs
# every test on this machine's Node and again on Node 24 LTS, the runtime production and Docker use (the npm
# package `node@24` provides the binary; it is put first on PATH for the second run). `.ci/run` calls this.
# TESSERA_TEST_NODE24=0 skips the second run (a quick local check); CI never sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import mockupdb, mongomock' 2>/dev/null || need+=(python3 python3-mockupdb python3-mongomock)
if [ "${#need[@]}" -gt 0 ]; then
  echo "test: installing ${need[*]} (apt)"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

npm ci --no-audit --no-fund

echo "test: the whole suite on the machine's Node $(node --version)"
npm test

if [ "${TESSERA_TEST_NODE24:-1}" != "0" ] && [ "$(node -p 'process.versions.node.split(".")[0]')" != "24" ]; then
  NODE24_DIR="$PWD/.cache/node24"
  if [ ! -x "$NODE24_DIR/node_modules/.bin/node" ]; then
    echo "test: installing Node 24 from the npm registry (node@24) into .cache/node24"
    mkdir -p "$NODE24_DIR"
    npm install --prefix "$NODE24_DIR" --no-save --no-audit --no-fund --no-package-lock node@24 >/dev/null
  fi
  export PATH="$NODE24_DIR/node_modules/.bin:$PATH"
  [ "$(node -p 'process.versions.node.split(".")[0]')" = "24" ] || { echo "test: Node 24 did not install (node --version: $(node --version))" >&2; exit 1; }
  echo "test: the whole suite again on Node $(node --version)"
  npm test
fi
