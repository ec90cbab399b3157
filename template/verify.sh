#!/usr/bin/env bash
# Check the deployed stack against the plan. Thin wrapper: the work is in ops/ (python -m ops verify).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./verify.sh

Checks the stack status, GET /health through the Function URL, a latency sample against the SLA p95,
the alarms, the budget and the QStash schedules against the plan. Exits non-zero if any check fails.

  --dry-run   accepted for symmetry (verify only reads)
  -h, --help  this text

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
  echo "verify.sh: $*" >&2
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

exec "$PYTHON" -m ops verify "$@"
