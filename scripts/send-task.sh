#!/usr/bin/env bash
# Submits a task with the options of the first version's send-task.sh, so existing habits and scripts
# keep working. It only translates them for `dan send`, which builds the task JSON itself: a quote in a
# description or context can never break the message.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: send-task.sh <domain> <description> [options]

Arguments:
    domain                 Target domain (backend, frontend, devops, ...), or main to let the network route it
    description            Task description (quote it)

Options:
    -p, --priority LEVEL   Task priority: low, normal, high (default: normal)
    -t, --timeout SECONDS  Task timeout in seconds (default: 300)
    -w, --wait             Wait for task completion and show the result
    -c, --context JSON     JSON context object, e.g. '{"repo": "api"}'
    -r, --redis URL        Redis URL (default: $REDIS_URL, else redis://localhost:6379)
        --json             Print machine-readable JSON
    -h, --help             Show this help

Runs 'dan send'. Set DAN_BIN to the dan executable to use a particular one.
USAGE
}

usage_error() {
  echo "send-task.sh: $1" >&2
  usage >&2
  exit 2
}

# The short flag `dan send` takes for each long option with a value.
short_flag() {
  case "$1" in
    -p|--priority) printf '%s\n' -p ;;
    -t|--timeout) printf '%s\n' -t ;;
    -c|--context) printf '%s\n' -c ;;
    -r|--redis) printf '%s\n' -r ;;
  esac
}

flags=()
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -p|--priority|-t|--timeout|-c|--context|-r|--redis)
      [ $# -ge 2 ] || usage_error "option $1 needs a value"
      flags+=("$(short_flag "$1")" "$2")
      shift 2 ;;
    --priority=*|--timeout=*|--context=*|--redis=*)
      flags+=("$(short_flag "${1%%=*}")" "${1#*=}")
      shift ;;
    -w|--wait) flags+=(-w); shift ;;
    --json) flags+=(--json); shift ;;
    --) shift; positional+=("$@"); break ;;
    -?*) usage_error "unknown option: $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done

case ${#positional[@]} in
  0) usage_error "missing <domain> and <description>" ;;
  1) usage_error "missing <description>" ;;
  2) ;;
  *) usage_error "unexpected argument '${positional[2]}': quote the description" ;;
esac

# shellcheck source=scripts/find-dan.sh
source "$(dirname "${BASH_SOURCE[0]}")/find-dan.sh"
find_dan send-task.sh

domain=${positional[0]}
description=${positional[1]}
# `dan send` would read a leading dash as an option; after `--` everything is positional.
if [[ $domain == -* || $description == -* ]]; then
  exec "${dan[@]}" send ${flags[@]+"${flags[@]}"} -- "$domain" "$description"
fi
exec "${dan[@]}" send "$domain" "$description" ${flags[@]+"${flags[@]}"}
