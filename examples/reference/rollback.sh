#!/usr/bin/env bash
# Roll the workers back to the previous (or a named) version. Thin wrapper: the work is in ops/ (python -m ops rollback).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./rollback.sh [--version N] [--dry-run]

Moves the `live` alias back to the previous Lambda version (or version N), restores the QStash schedules
that version was deployed with, and rolls the stack back if its last update failed.

  --version N  the version to go back to
  --dry-run    show what would change; change nothing
  -h, --help   this text

Reads ${ENV_FILE:-.env.production.local} if it exists, then the environment.
USAGE
}

expect_value=0
for arg in "$@"; do
  if [[ $expect_value == 1 ]]; then
    expect_value=0
    continue
  fi
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
    --version) expect_value=1 ;;
    --version=* | --dry-run) ;;
    *)
      echo "rollback.sh: unknown option '$arg'" >&2
      usage >&2
      exit 2
      ;;
  esac
done
if [[ $expect_value == 1 ]]; then
  echo "rollback.sh: --version needs a version number" >&2
  usage >&2
  exit 2
fi

cd "$(dirname "${BASH_SOURCE[0]}")"
SCRIPT_NAME=rollback.sh
# shellcheck source=ops/run.sh
source ops/run.sh
run_ops rollback "$@"
