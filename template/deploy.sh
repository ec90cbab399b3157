#!/usr/bin/env bash
# Deploy the stack and a new release of the workers. Thin wrapper: the work is in ops/ (python -m ops deploy).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh [--yes] [--dry-run]

Deploys the stack (a CloudFormation change set you confirm), snapshots the database, applies the
migrations, publishes a new Lambda version, moves the `live` alias to it, syncs the QStash schedules and
runs ./verify.sh. A failing step undoes what this run changed and names the step.

  --yes       apply the change set without asking (CI)
  --dry-run   show the change set and the schedule changes; change nothing
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
SCRIPT_NAME=deploy.sh
# shellcheck source=ops/run.sh
source ops/run.sh
run_ops deploy "$@"
