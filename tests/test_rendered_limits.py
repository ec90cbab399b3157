"""Every limit the rendered code obeys comes from app/plan.json: no limit is typed into `template/app/`, every
limit the plan writes is read by the rendered code, the rendered plan model accepts the plan's limits, and
each fanned-out worker's chunk size is the plan's. (The plan side, that plan.json's limits are the priced
quantities, is tested with the plan engine.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.plan.limits import WorkerLimits
from generator.render.project import checked_plan, new_project, template_root

APP = template_root() / "template" / "app"
# A limit name given a number in code: `max_tokens=300`, `max_tokens: int = 400`, `timeout = 30`, `"chunk_size": 25`.
# Every limit of the plan's contract, and the names the SDKs and the code give them.
LIMIT_NAMES = (
    *WorkerLimits.model_fields,
    "max_tokens",
    "max_completion_tokens",
    "publish_batch_size",
    "batch_size",
    "message_deadline_seconds",
    "deadline",
    "max_payload_bytes",
    "parallelism",
    "retries",
    "timeout",
)
_NAMES = "|".join(LIMIT_NAMES)
TYPED_LIMIT = re.compile(
    rf"""["']?\b(?P<name>{_NAMES})\b["']?"""  # the name, maybe as a dict key
    r"""\s*(?::\s*[\w\[\] |.]+\s*)?"""  # maybe annotated
    r"""[=:]\s*(?P<number>\d[\d_.]*)"""  # given a number
)


def _app_sources() -> list[Path]:
    return sorted(path for path in APP.rglob("*") if path.is_file() and ".py" in path.name)


def test_the_pattern_catches_typed_limits() -> None:
    caught = ["max_tokens=300", "max_tokens: int = 400", '"chunk_size": 25', "timeout = 30", "parallelism=10"]
    assert all(TYPED_LIMIT.search(text) for text in caught)
    allowed = ["max_tokens=limits.max_output_tokens", "chunk_size = worker.limits.chunk_size", "retries=plan.qstash"]
    assert not any(TYPED_LIMIT.search(text) for text in allowed)


def test_no_limit_is_typed_into_the_app_templates() -> None:
    sources = _app_sources()
    assert any(path.name == "ai.py" for path in sources)
    found = [
        f"{path.relative_to(APP.parent)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if TYPED_LIMIT.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
    assert any("limits.max_output_tokens" in path.read_text(encoding="utf-8") for path in sources)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [None, ["alert_checker"], ["content_trends"]], ids=["all", "alerts", "trends"])
def test_the_rendered_code_reads_every_limit_the_plan_writes(workers: list[str] | None, tmp_path: Path) -> None:
    answers: dict[str, object] = {} if workers is None else {"workers": workers}
    dest = tmp_path / "repo"
    new_project(dest, answers, defaults=True)
    manifest = json.loads((dest / "app" / "plan.json").read_text(encoding="utf-8"))
    plan = checked_plan(answers)
    code = "\n".join(path.read_text(encoding="utf-8") for path in sorted((dest / "app").rglob("*.py")))
    # The limits this plan sets (a limit that is null for every chosen worker has nothing to obey).
    keys = {k for w in manifest["workers"] for k, v in w["limits"].items() if v is not None} | set(manifest["fanout"])
    assert keys
    unread = sorted(key for key in keys if not re.search(rf"\.{key}\b", code))
    assert unread == []
    fanned = {w["name"]: w["limits"]["chunk_size"] for w in manifest["workers"] if w["limits"]["chunk_size"]}
    # The cron workers that call the model per user fan out, each with the plan's chunk size.
    assert set(fanned) == {w.name for w in plan.workers if w.trigger == "cron" and w.model}
    assert fanned == {w.name: w.limits.chunk_size for w in plan.workers if w.limits.chunk_size}
    check = (
        "import json; from app.plan import load_plan; from app.settings import DEFAULT_PLAN_PATH;"
        " plan = load_plan(DEFAULT_PLAN_PATH);"
        " print(json.dumps({w.name: w.limits.model_dump() for w in plan.workers}))"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=dest, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {w["name"]: w["limits"] for w in manifest["workers"]}
