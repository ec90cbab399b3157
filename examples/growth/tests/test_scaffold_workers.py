"""scripts/scaffold_workers.py: a custom worker's module, migration and test written once and never overwritten,
kept with one note when the worker leaves the answers, and written during `copier update` only in the project
itself (copier runs its tasks in its temporary renders too). Run as copier runs it, in a copy of the project."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.plan import Plan, WorkerPlan
from app.settings import DEFAULT_PLAN_PATH
from app.workers import load_worker
from app.workers.base import WorkerSpec

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE = {"invoice_id": 7, "email": "a@example.com", "tags": ["x"], "not-a-name": True}


def custom_worker(plan: Plan, name: str, example: dict[str, Any] | None = EXAMPLE) -> dict[str, Any]:
    """An entry of app/plan.json as the plan writes one for the answer `custom_workers` (an event worker)."""
    return {
        **plan.workers[0].model_dump(mode="json"),
        "name": name,
        "route": f"/workers/{name.replace('_', '-')}",
        "trigger": "event",
        "cron": None,
        "model": None,
        "model_use": None,
        "custom": True,
        "payload_example": example,
    }


def write_plan(root: Path, workers: list[dict[str, Any]]) -> None:
    document = json.loads(DEFAULT_PLAN_PATH.read_text(encoding="utf-8"))
    document["workers"] = [w for w in document["workers"] if not w.get("custom")] + workers
    (root / "app" / "plan.json").write_text(json.dumps(document), encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The project's scripts and a plan, without the custom workers' files."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("app/workers/custom", "migrations", "tests"):
        (root / folder).mkdir(parents=True)
    write_plan(root, [])
    return root


def scaffold(root: Path, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "scripts/scaffold_workers.py", *args], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_workers_files_are_written_once(root: Path, plan: Plan) -> None:
    write_plan(root, [custom_worker(plan, "invoice_sender")])
    assert scaffold(root) == [
        "created app/workers/custom/invoice_sender.py (custom worker invoice_sender: yours to edit)",
        "created migrations/0201_invoice_sender.sql (custom worker invoice_sender: yours to edit)",
        "created tests/test_custom_invoice_sender.py (custom worker invoice_sender: yours to edit)",
    ]
    module = root / "app" / "workers" / "custom" / "invoice_sender.py"
    module.write_text(module.read_text() + "# ours\n")
    assert scaffold(root) == []
    assert module.read_text().endswith("# ours\n")
    write_plan(root, [custom_worker(plan, "invoice_sender"), custom_worker(plan, "signup_scorer", None)])
    assert [line.split()[1] for line in scaffold(root)] == [
        "app/workers/custom/signup_scorer.py",
        "migrations/0202_signup_scorer.sql",
        "tests/test_custom_signup_scorer.py",
    ]


def test_the_written_module_takes_the_examples_shape_and_nothing_else(root: Path, plan: Plan) -> None:
    write_plan(root, [custom_worker(plan, "invoice_sender")])
    scaffold(root)
    path = root / "app" / "workers" / "custom" / "invoice_sender.py"
    spec = importlib.util.spec_from_file_location("scaffolded_invoice_sender", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import registers it: pydantic resolves the annotations there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    worker = module.WORKER
    assert isinstance(worker, WorkerSpec)
    assert module.EXAMPLE == EXAMPLE
    assert worker.payload.model_validate(EXAMPLE).model_dump(by_alias=True) == EXAMPLE
    with pytest.raises(ValidationError):
        worker.payload.model_validate({**EXAMPLE, "other": 1})
    with pytest.raises(ValidationError):
        worker.payload.model_validate({**EXAMPLE, "invoice_id": "seven"})


def test_a_cron_worker_the_plan_fans_out_gets_a_per_user_function(root: Path, plan: Plan) -> None:
    """A cron worker with a chunk size in the plan: the tick lists users, chunks call `for_user` (app/fanout.py)."""
    reference = next(w for w in plan.workers if w.trigger == "cron" and w.limits.chunk_size is not None)
    fanned = {
        **custom_worker(plan, "invoice_sender", None),
        "trigger": "cron",
        "cron": "0 8 * * *",
        "limits": reference.limits.model_dump(mode="json"),
    }
    single = {**fanned, "name": "nightly_cleanup", "route": "/workers/nightly-cleanup"}
    single["limits"] = {**fanned["limits"], "chunk_size": None}
    write_plan(root, [fanned, single])
    scaffold(root)
    custom = root / "app" / "workers" / "custom"
    module = (custom / "invoice_sender.py").read_text()
    assert "def for_user(job: Job, tick: str, user_id: str, body: dict[str, Any]) -> None:" in module
    assert "from app.fanout import Chunk, ChunkRef, fan_out, load_chunk, mark_done, nothing_to_do" in module
    migration = (root / "migrations" / "0201_invoice_sender.sql").read_text()
    assert "CREATE TABLE IF NOT EXISTS invoice_sender_users" in migration
    assert "published_to" in (root / "tests" / "test_custom_invoice_sender.py").read_text()
    # Not fanned out: one message a run, the message's module.
    assert "for_user" not in (custom / "nightly_cleanup.py").read_text()
    assert "app.fanout" not in (custom / "nightly_cleanup.py").read_text()


def test_a_worker_dropped_from_the_answers_keeps_its_files_with_one_note(root: Path, plan: Plan) -> None:
    write_plan(root, [custom_worker(plan, "invoice_sender")])
    scaffold(root)
    files = sorted(p.relative_to(root) for p in root.rglob("*invoice_sender*"))
    write_plan(root, [])
    assert scaffold(root) == [
        "note: custom worker invoice_sender is no longer in the answers (custom_workers): its route and schedule are "
        "gone, its files are kept (app/workers/custom/invoice_sender.py, migrations/0201_invoice_sender.sql, "
        "tests/test_custom_invoice_sender.py; its tests no longer run); delete them when you are done with them"
    ]
    assert sorted(p.relative_to(root) for p in root.rglob("*invoice_sender*")) == files


def test_an_update_writes_in_the_project_only(root: Path, plan: Plan) -> None:
    write_plan(root, [custom_worker(plan, "invoice_sender")])
    # Not a checkout that tracks the plan: one of copier's temporary renders of an update.
    assert scaffold(root, "--operation", "update") == []
    assert not (root / "app" / "workers" / "custom" / "invoice_sender.py").exists()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "app/plan.json"], cwd=root, check=True)
    assert len(scaffold(root, "--operation", "update")) == 3
    assert (root / "app" / "workers" / "custom" / "invoice_sender.py").is_file()


def test_a_custom_worker_without_its_module_names_the_scaffold(plan: Plan) -> None:
    worker = WorkerPlan.model_validate(custom_worker(plan, "never_scaffolded"))
    with pytest.raises(ModuleNotFoundError, match=r"app/workers/custom/never_scaffolded\.py is missing; run `python "):
        load_worker(worker)
