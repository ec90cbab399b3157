#!/usr/bin/env bash
# Check the deployed stack against the plan. Thin wrapper: the work is in ops/ (python -m ops verify).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./verify.sh [--spend] [--dry-run]

Checks the stack status, GET /health through the Function URL, a latency sample against the SLA p95,
the alarms, the budget and the QStash schedules against the plan, then prints the spend report.

The spend report (also: make spend, or ./verify.sh --spend for the report alone) puts this month's spend
so far and its month-end forecast beside the plan, line by line:
  AWS        Cost Explorer by service (GetCostAndUsage; only the stack's resources once the cost-allocation
             tag is active, see README.md), mapped to the plan's lines, and Cost Explorer's forecast
  Azure AI   the spend ledger per worker and model: calls, tokens and dollars against the plan's figures
  QStash     messages published this month (QStash events API) against the plan's count
The AWS identity needs ce:GetCostAndUsage, ce:GetCostForecast and ce:ListCostAllocationTags.

Exit codes:
  0  every check passed and every month-end forecast is within its budget
  1  a check failed, or a source of the spend report could not answer (one line says which and why)
  2  a variable or the command line is wrong (nothing was read)
  4  a month-end forecast exceeds its budget (infrastructure or AI); the line driving it is named

  --spend     only the spend report (what make spend runs)
  --dry-run   accepted for symmetry (verify only reads)
  -h, --help  this text

Reads ${ENV_FILE:-.env.production.local} if it exists, then the environment.
USAGE
}

command=verify
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
    --spend) command=spend ;;
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
if [[ "$command" == spend ]]; then
  run_ops spend
else
  run_ops verify "$@"
fi
