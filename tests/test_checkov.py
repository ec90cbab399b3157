"""checkov on the rendered CloudFormation: every example's stack and the matrix cases the examples do not cover
(Multi-AZ with replicas and two NAT gateways; Redis OSS with one worker). A check the stack does not follow
must be skipped on its resource with a reason (`# checkov:skip=<ID>:<reason>` in
template/infra/stack.yaml.jinja); any other finding fails.

One checkov process reads every file (its start-up dominates), offline: `--skip-download` and no API key,
so nothing is fetched and nothing is sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.render.project import examples_dir, new_project

pytestmark = pytest.mark.slow

# `make test` installs checkov in a virtual environment of its own (it pins old boto3 and packaging).
ROOT = Path(__file__).resolve().parents[1]
CHECKOV = (
    os.environ.get("CHECKOV")
    or shutil.which("checkov", path=str(ROOT / ".venv-checkov" / "bin"))
    or shutil.which("checkov", path=str(Path(sys.executable).parent))
    or shutil.which("checkov")
)
MATRIX = {
    "growth": {"project_name": "growth-multi-az", "users": 2000, "aws_budget": 2000, "ai_budget": 20000},
    "redis": {"project_name": "redis-one-worker", "users": 1, "workers": ["data_processing"], "cache_engine": "redis"},
}
# checkov's text for a skip comment without a reason.
_NO_REASON = {"", "No comment provided"}

# A stack with one of each kind of finding, checked in the same run: proves the run reports both.
_PROBE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Unexplained:
    Type: AWS::SNS::Topic
    # checkov:skip=CKV_AWS_26
    Properties:
      DisplayName: unexplained
  Failing:
    Type: AWS::SNS::Topic
"""


def _run_checkov(files: list[Path]) -> dict[str, Any]:
    if CHECKOV is None:
        pytest.fail("checkov is not installed: `make test` installs it in .venv-checkov (or set CHECKOV)")
    # No platform key: checkov then runs its built-in checks locally and sends nothing.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))} | {"LOG_LEVEL": "WARNING"}
    args = [CHECKOV, "--framework", "cloudformation", "--compact", "--output", "json", "--skip-download"]
    # Paths relative to the checkout: CKV_AWS_45 (secrets in a Lambda's environment) also scans the file's own
    # path, and a checkout in a `mktemp -d` folder (/tmp/tmp.aNb71IMKjb/...) reads to it as a high-entropy secret.
    for path in files:
        args += ["--file", os.path.relpath(path, ROOT)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: findings, reported in the JSON
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _abs(check: dict[str, Any]) -> str:
    """The checked file's absolute path (checkov reports the path as given: relative to the checkout)."""
    return str((ROOT / check["file_abs_path"]).resolve())


def _problems(report: dict[str, Any]) -> dict[str, list[str]]:
    """File -> its findings: failed checks, and skips without a reason."""
    found: dict[str, list[str]] = {}
    results = report["results"]
    for check in results["failed_checks"]:
        found.setdefault(_abs(check), []).append(f"{check['check_id']} failed on {check['resource']}")
    for check in results["skipped_checks"]:
        if (check["check_result"].get("suppress_comment") or "").strip() in _NO_REASON:
            found.setdefault(_abs(check), []).append(
                f"{check['check_id']} skipped without a reason on {check['resource']}"
            )
    return found


def test_every_rendered_stack_passes_checkov_or_says_why(tmp_path: Path) -> None:
    stacks = sorted(examples_dir().glob("*/infra/stack.yaml"))
    assert len(stacks) >= 3, "the examples' stacks are missing"
    for name, answers in MATRIX.items():
        dest = tmp_path / name
        new_project(dest, answers, defaults=True)
        stacks.append(dest / "infra" / "stack.yaml")
    probe = tmp_path / "probe.yaml"
    probe.write_text(_PROBE, encoding="utf-8")

    report = _run_checkov([*stacks, probe])

    assert report["summary"]["parsing_errors"] == 0
    problems = _problems(report)
    assert problems.pop(str(probe.resolve()), []) == [
        "CKV_AWS_26 failed on AWS::SNS::Topic.Failing",
        "CKV_AWS_26 skipped without a reason on AWS::SNS::Topic.Unexplained",
    ]
    assert problems == {}, "\n".join(f"{file}: {line}" for file, lines in problems.items() for line in lines)
    # Every stack was read: the skipped checks with their reasons are part of each one's result.
    skipped_files = {_abs(check) for check in report["results"]["skipped_checks"]}
    assert {str(path.resolve()) for path in stacks} <= skipped_files
