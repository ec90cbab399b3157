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

die() {
  echo "rollback.sh: $*" >&2
  exit 2
}

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then
    PYTHON=.venv/bin/python
  elif command -v python3 >/dev/null 2>&1; then
    PYTHON=python3
  else
    die "python3 not found (install Python 3.11+ or run 'make install')"
  fi
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11+ is required ($PYTHON)"
"$PYTHON" -c 'import boto3, qstash' 2>/dev/null || die "dependencies missing: run 'make install' first"

env_file="${ENV_FILE:-.env.production.local}"
if [[ -f "$env_file" ]]; then
  # Export every variable of the env file to the ops package (values are never echoed).
  set -a
  # shellcheck disable=SC1090
  source "$env_file"
  set +a
fi

exec "$PYTHON" -m ops rollback "$@"
