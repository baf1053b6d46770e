#!/usr/bin/env bash
# Builds reference/hono-api: `npm ci` when node_modules is missing or older than
# package-lock.json, then `npm run build` when a source is newer than dist/.
# Idempotent; safe to call from anywhere (e.g. `bash reference/hono-api/setup.sh`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null 2>&1 || { echo "hono-api setup: node is not installed" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "hono-api setup: npm is not installed" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "${node_major}" -lt 20 ]; then
  echo "hono-api setup: Node >= 20 required (found $(node --version))" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json on every install: use it as the stamp
stamp_deps="node_modules/.package-lock.json"
if [ ! -d node_modules ] || [ ! -f "${stamp_deps}" ] || [ package-lock.json -nt "${stamp_deps}" ] || [ package.json -nt "${stamp_deps}" ]; then
  echo "hono-api setup: npm ci" >&2
  npm ci --no-audit --no-fund
  touch "${stamp_deps}"
fi

stamp_build="dist/.build-stamp"
needs_build=0
if [ ! -f "${stamp_build}" ] || [ ! -f dist/server.js ] || [ ! -f dist/tools/call-processor.js ] || [ ! -f dist/tools/handle-message.js ]; then
  needs_build=1
elif [ -n "$(find src tsconfig.json package.json package-lock.json -newer "${stamp_build}" -print -quit)" ]; then
  needs_build=1
fi
if [ "${needs_build}" -eq 1 ]; then
  echo "hono-api setup: npm run build" >&2
  rm -rf dist
  npm run build
  touch "${stamp_build}"
fi
echo "hono-api setup: ok" >&2
