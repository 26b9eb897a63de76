#!/usr/bin/env bash
# Builds the web app (web/) into OUT_DIR, as CMake asks before embedding it:
# `npm ci` when the lockfile changed since the last install, a strict
# TypeScript check, then `vite build`. Needs Node.js and npm (make deps).
set -euo pipefail
out=$1
cd "$(dirname "$0")/../web"
# Vite 8 needs Node.js 20.19 or newer
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "build_web: Node.js $(node --version) is too old for the web app's toolchain (needs 20.19+)" >&2
  exit 1
fi
# several build directories share web/node_modules: one install at a time
exec 9>"${TMPDIR:-/tmp}/rustygpt-web-build.lock"
command -v flock >/dev/null && flock 9
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/tsc --noEmit
node_modules/.bin/vite build --outDir "$out" --emptyOutDir --logLevel warn
