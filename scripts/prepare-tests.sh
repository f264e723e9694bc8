#!/usr/bin/env bash
# Runs before `npm test`: installs the npm dependencies on a fresh clone, then builds (the tests start
# agents from dist/), so `npm test` is the whole command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -d node_modules ]; then
  echo "==> Installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
npm run build --silent
