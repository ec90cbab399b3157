# Shared by deploy.sh, verify.sh and rollback.sh (sourced, not run): find a Python 3.11+ with the
# project's dependencies, load the env file, and hand over to `python -m ops <command>`.
# shellcheck shell=bash

die() {
  echo "${SCRIPT_NAME}: $*" >&2
  exit 2
}

run_ops() {
  local command="$1"
  shift
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

  local env_file="${ENV_FILE:-.env.production.local}"
  if [[ -f "$env_file" ]]; then
    # Export every variable of the env file to the ops package (values are never echoed).
    set -a
    # shellcheck disable=SC1090
    source "$env_file"
    set +a
    # An optional line left empty means "not set": exported empty, AWS_PROFILE would name a profile ''.
    local name
    while IFS='=' read -r name _; do
      [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
      if [[ -z "${!name-}" ]]; then
        unset "$name"
      fi
    done <"$env_file"
  fi

  exec "$PYTHON" -m ops "$command" "$@"
}
