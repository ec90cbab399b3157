#!/usr/bin/env bash
# Check the deployed stack against the plan. Thin wrapper: the work is in ops/ (python -m ops verify).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./verify.sh [--dry-run]

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
    --dry-run) ;;
    *)
      echo "verify.sh: unknown option '$arg'" >&2
      usage >&2
      exit 2
      ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")"
SCRIPT_NAME=verify.sh
# shellcheck source=ops/run.sh
source ops/run.sh
run_ops verify "$@"
