#!/usr/bin/env bash
# Shows the network's logs with the options of the first version's tail-logs.sh, so existing habits
# keep working. It only translates them for `dan logs`, which reads the logs from Redis (and from the
# containers when agents run in Docker).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: tail-logs.sh [options]

Options:
    -m, --main             Show main orchestrator logs only
    -d, --domains          Show domain orchestrator logs only
    -t, --task ID          Show logs for a specific task ID
    -g, --grep PATTERN     Filter logs by pattern
    -n, --lines N          Number of lines to show (default: 100)
    -f, --follow           Keep following new lines (the default)
        --no-follow        Don't follow, just show recent logs
    -c, --container NAME   Show logs of one agent, domain or container name
        --source SOURCE    Where lines come from: redis (task logs), docker (container
                           output) or all (default; Docker only when an engine answers)
        --json             Print one JSON object per line
    -h, --help             Show this help

Runs 'dan logs'. Set DAN_BIN to the dan executable to use a particular one.
USAGE
}

usage_error() {
  echo "tail-logs.sh: $1" >&2
  usage >&2
  exit 2
}

# The flag `dan logs` takes for each option with a value.
dan_flag() {
  case "$1" in
    -t|--task) printf '%s\n' --task ;;
    -g|--grep) printf '%s\n' --grep ;;
    -n|--lines) printf '%s\n' -n ;;
    -c|--container) printf '%s\n' -c ;;
    --source) printf '%s\n' --source ;;
  esac
}

# A line count must be a whole number: anything else is a usage error here, before dan runs.
check_value() {
  case "$1" in
    -n|--lines)
      [[ "$2" =~ ^[0-9]+$ ]] || usage_error "option $1 needs a whole number of lines, got '$2'" ;;
  esac
}

flags=()
follow=--follow
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -m|--main) flags+=(--main); shift ;;
    -d|--domains) flags+=(--domains); shift ;;
    -t|--task|-g|--grep|-n|--lines|-c|--container|--source)
      [ $# -ge 2 ] || usage_error "option $1 needs a value"
      check_value "$1" "$2"
      flags+=("$(dan_flag "$1")" "$2")
      shift 2 ;;
    --task=*|--grep=*|--lines=*|--container=*|--source=*)
      check_value "${1%%=*}" "${1#*=}"
      flags+=("$(dan_flag "${1%%=*}")" "${1#*=}")
      shift ;;
    -f|--follow) follow=--follow; shift ;;
    --no-follow) follow=--no-follow; shift ;;
    --json) flags+=(--json); shift ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

# shellcheck source=scripts/find-dan.sh
source "$(dirname "${BASH_SOURCE[0]}")/find-dan.sh"
find_dan tail-logs.sh

exec "${dan[@]}" logs ${flags[@]+"${flags[@]}"} "$follow"
