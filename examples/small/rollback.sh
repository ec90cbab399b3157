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

for arg in "$@"; do
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")"
SCRIPT_NAME=rollback.sh
# shellcheck source=ops/run.sh
source ops/run.sh
run_ops rollback "$@"
