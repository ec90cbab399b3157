"""The scripts' own usage: --help documents every flag, and a bad flag shows the script's usage (not
argparse's `usage: python -m ops`) with exit 2, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FLAGS = {
    "deploy.sh": ("--preflight", "--yes", "--dry-run"),
    "verify.sh": ("--dry-run",),
    "rollback.sh": ("--version N", "--dry-run"),
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / args[0]), *args[1:]], capture_output=True, text=True, check=False, timeout=30)


@pytest.mark.parametrize("script", sorted(FLAGS))
def test_help_documents_every_flag(script: str) -> None:
    shown = _run(script, "--help")
    assert shown.returncode == 0
    usage_line = shown.stdout.splitlines()[0]
    assert usage_line.startswith(f"Usage: ./{script}")
    for flag in FLAGS[script]:
        assert flag.split()[0] in usage_line
        assert f"  {flag}" in shown.stdout  # each flag has its own explained line


def test_deploy_help_says_what_the_preflight_checks_and_the_exit_codes() -> None:
    shown = _run("deploy.sh", "--help").stdout
    preflight = shown[shown.index("--preflight  ") : shown.index("--yes  ")]
    for checked in (
        "AWS credentials",
        "concurrency quota",
        "QSTASH_URL",
        "Azure",
        "budget",
        "bytecode",
        "change nothing",
    ):
        assert checked in preflight, checked
    assert "3 the stack is ROLLBACK_FAILED or DELETE_FAILED" in shown


@pytest.mark.parametrize(
    ("script", "bad"), [("deploy.sh", "--preflght"), ("verify.sh", "--yes"), ("rollback.sh", "-x")]
)
def test_a_bad_flag_shows_the_scripts_usage(script: str, bad: str) -> None:
    shown = _run(script, bad)
    assert shown.returncode == 2
    assert shown.stdout == ""
    assert shown.stderr.splitlines()[0] == f"{script}: unknown option '{bad}'"
    assert f"Usage: ./{script}" in shown.stderr
    assert "python -m ops" not in shown.stderr


def test_rollback_version_needs_a_value() -> None:
    shown = _run("rollback.sh", "--version")
    assert shown.returncode == 2
    assert shown.stderr.splitlines()[0] == "rollback.sh: --version needs a version number"


def test_the_example_env_file_with_optional_lines_left_empty_reaches_a_clean_preflight(tmp_path: Path) -> None:
    """QUICK-START's first step: copy the example, fill in the required values, leave the optional ones empty.
    An empty line means "not set" (an exported empty AWS_PROFILE used to name a profile '' and crash boto3)."""
    filled = {"AWS_REGION": "us-east-1", "QSTASH_TOKEN": "token", "QSTASH_CURRENT_SIGNING_KEY": "sig_a"}
    lines = []
    for line in (REPO / ".env.production.local.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={filled[name]}" if name in filled and line.endswith("=") else line)
    env_file = tmp_path / "env"
    env_file.write_text("\n".join(lines) + "\n")
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),  # no ~/.aws here: no credentials at all
        "ENV_FILE": str(env_file),
        "PYTHON": sys.executable,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    shown = subprocess.run(
        [str(REPO / "deploy.sh"), "--preflight"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=REPO,
        env=environment,
    )
    output = shown.stdout + shown.stderr
    assert shown.returncode == 2, output
    assert "Traceback" not in output
    assert "ProfileNotFound" not in output
    assert "FAIL aws: no AWS credentials: set AWS_PROFILE" in output
    assert "FAIL variables: QSTASH_NEXT_SIGNING_KEY is not set" in output
