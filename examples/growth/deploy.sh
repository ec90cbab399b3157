#!/usr/bin/env bash
# Deploy the stack and a new release of the workers. Thin wrapper: the work is in ops/ (python -m ops deploy).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh [--preflight] [--yes] [--dry-run]

Checks everything first (the preflight), then deploys the stack (a CloudFormation change set you
confirm), snapshots the database, applies the migrations, publishes a new Lambda version, moves the
`live` alias to it, syncs the QStash schedules and runs ./verify.sh. A failing step undoes what this run
changed and names the step.

  --preflight  only the checks, each printed ok/WARN/FAIL; change nothing: Python and pip, a Python of
               the Lambda runtime's version for the bytecode (WARN without one), the variables,
               AWS credentials, the region's engine versions and classes for the plan, the Lambda
               concurrency quota, QSTASH_URL against the token and signing keys, each Azure model
               deployment (one-token request), the plan's AWS estimate against the AWS budget
  --yes        apply the change set without asking (CI); also deletes and recreates an empty stack
               left by a failed first create (ROLLBACK_COMPLETE)
  --dry-run    show the change set and the schedule changes; change nothing
  -h, --help   this text

Exit codes: 0 done, 1 a step failed (this run's changes undone), 2 a preflight problem or a bad option,
3 the stack is ROLLBACK_FAILED or DELETE_FAILED (the recovery commands are printed; nothing attempted).

Reads ${ENV_FILE:-.env.production.local} if it exists, then the environment.
USAGE
}

for arg in "$@"; do
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
    --preflight | --yes | --dry-run) ;;
    *)
      echo "deploy.sh: unknown option '$arg'" >&2
      usage >&2
      exit 2
      ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")"
SCRIPT_NAME=deploy.sh
# shellcheck source=ops/run.sh
source ops/run.sh
run_ops deploy "$@"
