#!/usr/bin/env bash
# The one command a new user runs after cloning (`npm run demo`): it installs what is missing
# (npm dependencies, a build that is older than the sources, redis-server), then runs `dan demo`,
# which shows the network working end to end offline. Extra arguments go to `dan demo`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "demo: Node.js 20.19 or newer (with npm) is needed: https://nodejs.org/en/download" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "demo: Node.js 20.19 or newer is needed; this is $(node --version)" >&2
  exit 1
fi

if [ ! -d node_modules ]; then
  echo "==> Installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# The build is stale when any source or build setting is newer than the CLI it produced.
cli=dist/bundle/cli.mjs
if [ ! -f "$cli" ] || [ -n "$(find lib src tsconfig.json package.json package-lock.json -newer "$cli" -print -quit 2>/dev/null)" ]; then
  echo "==> Building (npm run build)"
  npm run build --silent
  if [ ! -f "$cli" ]; then
    echo "demo: the build did not produce $cli; check the output of 'npm run build'" >&2
    exit 1
  fi
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> Installing redis-server"
  bash scripts/install-redis.sh
fi

exec node "$cli" demo "$@"
