# shellcheck shell=bash
# shellcheck disable=SC2034  # `dan` is read by the scripts that source this file
# Sourced by the shell entry points: sets the array `dan` to the command that runs the dan CLI:
# $DAN_BIN if set, else `dan` on the PATH, else this checkout's build. $1 names the caller in errors.
find_dan() {
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [ -n "${DAN_BIN:-}" ]; then
    dan=("$DAN_BIN")
  elif command -v dan >/dev/null 2>&1; then
    dan=(dan)
  elif [ -f "$repo/dist/bundle/cli.mjs" ]; then
    dan=(node "$repo/dist/bundle/cli.mjs")
  else
    echo "$1: dan is not built: run 'npm ci && npm run build' in $repo (or set DAN_BIN)" >&2
    exit 1
  fi
}
