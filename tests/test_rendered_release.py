"""The rendered release and runtime details that a real account needs: the wheel platforms the package is
built for, and the plan values behind flow control, signature clock tolerance, snapshot pruning and the
task invoke's timeout (app/plan.json and infra/ops.json are the plan's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.plan.plan import Plan
from generator.plan.rules import load_rules
from generator.render.project import checked_plan, new_project

pytestmark = pytest.mark.slow

CASES = {
    "default": {},
    "growth": {"project_name": "growth-release", "users": 2000, "aws_budget": 2000, "ai_budget": 20000},
}


@pytest.fixture(scope="module", params=sorted(CASES))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan]:
    answers = CASES[request.param]
    dest = tmp_path_factory.mktemp(request.param) / "repo"
    new_project(dest, answers, defaults=True)
    return dest, checked_plan(answers)


def test_the_package_is_built_for_every_platform_tag_the_runtime_accepts(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    code = "import json; from ops.release import LAMBDA_PLATFORMS as p; print(json.dumps(p))"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    platforms = json.loads(done.stdout)
    # psycopg-binary 3.3 ships only manylinux_2_28 wheels for arm64; manylinux2014 alone picks 3.2.
    assert {"manylinux2014_aarch64", "manylinux_2_28_aarch64"} <= set(platforms)
    assert all(p.endswith("_aarch64") for p in platforms)
    assert "manylinux_2_35_aarch64" not in platforms  # newer than Amazon Linux 2023's glibc 2.34


def test_flow_control_and_clock_tolerance_are_the_plans(rendered: tuple[Path, Plan]) -> None:
    root, plan = rendered
    qstash = json.loads((root / "app/plan.json").read_text())["qstash"]
    assert qstash["flow_control"] == {
        "key": f"{plan.project.slug}-workers",
        "parallelism": plan.sizing.workers_lambda.reserved_concurrency,
    }
    assert qstash["signature_clock_tolerance_seconds"] == load_rules().constants.signature_clock_tolerance_seconds > 0


def test_the_ops_read_snapshot_and_invoke_limits_from_the_plan(rendered: tuple[Path, Plan]) -> None:
    root, plan = rendered
    ops = json.loads((root / "infra/ops.json").read_text())
    constants = load_rules().constants
    assert ops["cron_timeout_seconds"] == plan.sizing.cron_lambda.timeout_seconds
    assert ops["task_invoke_margin_seconds"] == constants.task_invoke_margin_seconds > 0
    assert ops["predeploy_snapshots_kept"] == constants.predeploy_snapshots_kept >= 1
