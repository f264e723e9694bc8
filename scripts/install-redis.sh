#!/usr/bin/env bash
# Makes sure `redis-server` is installed: the network, the demo and the tests start their own Redis
# from it. Does nothing when it is already on PATH; otherwise uses apt-get (as root or through sudo)
# or Homebrew, and prints how to install it by hand when neither is available.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

echo "redis-server is not installed; installing it..."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq redis-server
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
elif [ "$(uname -s)" = "Darwin" ] && command -v brew >/dev/null 2>&1; then
  brew install redis
else
  cat >&2 <<'HELP'
redis-server is not installed and this script cannot install it here. Install Redis 7 yourself:
  Debian/Ubuntu:  sudo apt-get install -y redis-server
  Fedora/RHEL:    sudo dnf install -y redis
  macOS:          brew install redis
  any system:     https://redis.io/docs/latest/operate/oss_and_stack/install/
or point REDIS_URL at a Redis you already run.
HELP
  exit 1
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server was installed but is not on PATH; add its folder to PATH and try again." >&2
  exit 1
fi
echo "installed: $(redis-server --version)"
