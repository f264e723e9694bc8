#!/usr/bin/env bash
# Runs before `npm test`: installs the npm dependencies on a fresh clone, installs redis-server when it
# is missing (the tests start their own Redis from it, as the demo does), then builds (the tests start
# agents from dist/), so `npm test` is the whole command, before or after `npm run demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -d node_modules ]; then
  echo "==> Installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> Installing redis-server (the tests start their own Redis)"
  bash scripts/install-redis.sh
fi
npm run build --silent
