"""Custom workers rendered: routes, schedules, the scaffolded files, their docs and tests; the founder's code
surviving updates (a template change to the scaffold included); a worker dropped from the answers; `make worker`.

The template is copied into its own git repository (tagged v1) so `betagen update` can start from a recorded
version; renders and updates run as a user runs them, the rendered tests in this venv (real PostgreSQL, signed
deliveries through the stand-ins).
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
import yaml
from copier import run_copy

from generator.render.context import plan_for
from generator.render.project import template_root
from generator.reports.formatting import money_range

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
BETAGEN = str(BIN / "betagen")
INVOICES: dict[str, Any] = {
    "name": "invoice_sender",
    "trigger": "cron",
    "schedule": "0 8 * * *",
    "model": "DeepSeek-V3.2",
    "calls_per_user_per_month": 10,
    "input_tokens": 800,
    "output_tokens": 200,
    "payload_example": {"invoice_id": 7, "email": "a@example.com", "amount": 12.5},
}
SIGNUPS: dict[str, Any] = {"name": "signup_scorer", "trigger": "event", "calls_per_user_per_month": 5}
CUSTOM = [INVOICES, SIGNUPS]
OUR_CODE = "# our invoice code: kept by every update\n"
PUBLIC = "https://workers.example.test"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(cwd, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


def flow(value: Any) -> str:
    return str(yaml.safe_dump(value, default_flow_style=True, width=10**6)).strip()


def run(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # betagen and copier of this venv first on PATH, as `make worker` finds them in a user's shell.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, env=env)


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A copy of this template in its own git repository, tagged v1."""
    repo = tmp_path / "template-repo"
    root = template_root()
    repo.mkdir()
    shutil.copy(root / "copier.yml", repo)
    for folder in ("template", "hooks", "src/generator"):
        shutil.copytree(root / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    commit_all(repo, "v1")
    git(repo, "tag", "v1")
    return repo


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    """Rendered from v1 with both custom workers (copier runs the scaffold task), committed."""
    dest = tmp_path / "my-beta"
    answers = {"custom_workers": CUSTOM}
    run_copy(str(template_repo), str(dest), data=answers, defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    git(dest, "init", "-q")
    commit_all(dest, "rendered from v1")
    return dest


def plan_json(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "app" / "plan.json").read_text()))


def custom_names(root: Path) -> list[str]:
    return [w["name"] for w in plan_json(root)["workers"] if w["custom"]]


def schedules(root: Path) -> list[list[str]]:
    """The schedules the rendered code syncs (app/schedules.py), read in the rendered repo."""
    code = (
        "import json; from pathlib import Path; from app.plan import load_plan; "
        "from app.schedules import desired_schedules; "
        f"print(json.dumps([[s.schedule_id, s.cron, s.destination] for s in desired_schedules("
        f"load_plan(Path('app/plan.json')), {PUBLIC!r})]))"
    )
    done = run(root, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def custom_files(root: Path, name: str) -> list[str]:
    found = [
        *(root / "app" / "workers" / "custom").glob(f"{name}.py"),
        *(root / "migrations").glob(f"02[0-9][0-9]_{name}.sql"),
        *(root / "tests").glob(f"test_custom_{name}.py"),
    ]
    return sorted(str(path.relative_to(root)) for path in found)


def rendered_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(root, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args)


def test_two_custom_workers_are_routed_scheduled_scaffolded_priced_and_tested(tmp_path: Path) -> None:
    dest = tmp_path / "x"
    done = run(tmp_path, BETAGEN, "new", str(dest), "--defaults", "--set", f"custom_workers={flow(CUSTOM)}")
    assert done.returncode == 0, done.stderr
    assert "created app/workers/custom/invoice_sender.py" in done.stdout

    workers = {w["name"]: w for w in plan_json(dest)["workers"]}
    assert [name for name, w in workers.items() if w["custom"]] == ["invoice_sender", "signup_scorer"]
    assert (workers["invoice_sender"]["route"], workers["invoice_sender"]["cron"]) == (
        "/workers/invoice-sender",
        "0 8 * * *",
    )
    assert (workers["signup_scorer"]["route"], workers["signup_scorer"]["cron"]) == ("/workers/signup-scorer", None)
    synced = {schedule_id: (cron, url) for schedule_id, cron, url in schedules(dest)}
    assert synced["my-beta-invoice-sender"] == ("0 8 * * *", f"{PUBLIC}/workers/invoice-sender")
    assert "my-beta-signup-scorer" not in synced

    assert custom_files(dest, "invoice_sender") == [
        "app/workers/custom/invoice_sender.py",
        "migrations/0201_invoice_sender.sql",
        "tests/test_custom_invoice_sender.py",
    ]
    assert custom_files(dest, "signup_scorer") == [
        "app/workers/custom/signup_scorer.py",
        "migrations/0202_signup_scorer.sql",
        "tests/test_custom_signup_scorer.py",
    ]
    module = (dest / "app" / "workers" / "custom" / "invoice_sender.py").read_text()
    assert 'EXAMPLE: dict[str, Any] = {"amount": 12.5, "email": "a@example.com", "invoice_id": 7}' in module
    assert "answer = job.complete(text_prompt(" in module
    # A cron worker with a model fans out (app/fanout.py): the founder's code is what a run does for one user.
    assert workers["invoice_sender"]["limits"]["chunk_size"] is not None
    assert (
        workers["invoice_sender"]["limits"]["chunk_size"]
        == plan_for({"custom_workers": CUSTOM}).sizing.worker_limits["invoice_sender"].chunk_size
    )
    assert "def for_user(job: Job, tick: str, user_id: str, body: dict[str, Any]) -> None:" in module
    assert "return fan_out(job, lambda: list_users(job), body)" in module
    assert "text_prompt" not in (dest / "app" / "workers" / "custom" / "signup_scorer.py").read_text()

    plan = plan_for({"custom_workers": CUSTOM})
    readme = (dest / "README.md").read_text()
    guide = (dest / "WORKERS-QSTASH-GUIDE.md").read_text()
    priced = [line for line in plan.lines if line.id.startswith("ai_invoice_sender_")]
    assert [line.id for line in priced] == ["ai_invoice_sender_input", "ai_invoice_sender_output"]
    for line in priced:
        cost = f"`{line.id}`: {line.item}, {money_range(line.cost_low, line.cost_high)} a month"
        assert cost in readme
        assert cost in guide
    assert not [line for line in plan.lines if "signup_scorer" in line.id]
    assert "- Route: `POST /workers/invoice-sender`; trigger: cron, schedule `0 8 * * *` (UTC)" in readme
    assert "- Route: `POST /workers/signup-scorer`; trigger: event (you publish its messages)" in readme
    assert 'make worker NAME=invoice_sender TRIGGER=cron SCHEDULE="0 8 * * *"' in readme
    assert '{"amount": 12.5, "email": "a@example.com", "invoice_id": 7}' in guide

    tests = rendered_pytest(
        dest,
        "tests/test_custom_invoice_sender.py",
        "tests/test_custom_signup_scorer.py",
        "tests/test_settings_plan.py",
        "tests/test_signature.py",
        "tests/test_sync_schedules.py",
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "skipped" not in tests.stdout
    collected = rendered_pytest(dest, "--collect-only", "tests/test_custom_invoice_sender.py")
    assert collected.stdout.count("test_custom_invoice_sender.py::") == 4, collected.stdout


def test_a_render_without_custom_workers_has_none_of_their_files(tmp_path: Path) -> None:
    dest = tmp_path / "plain"
    assert run(tmp_path, BETAGEN, "new", str(dest), "--defaults").returncode == 0
    assert [p.name for p in (dest / "app" / "workers" / "custom").iterdir()] == ["__init__.py"]
    assert not list((dest / "tests").glob("test_custom_*.py"))
    assert "None yet: the answers declare no custom worker." in (dest / "README.md").read_text()


def test_the_founders_code_survives_an_update_and_a_new_scaffold(template_repo: Path, project: Path) -> None:
    module = project / "app" / "workers" / "custom" / "invoice_sender.py"
    module.write_text(module.read_text() + OUR_CODE)
    commit_all(project, "our invoice code")
    # v2 of the template changes the scaffold: an update must not bring it into the founder's module.
    scaffold = template_repo / "template" / "scripts" / "scaffold" / "worker.py.tmpl"
    scaffold.write_text(scaffold.read_text() + "# scaffold v2\n")
    commit_all(template_repo, "v2: scaffold changed")
    git(template_repo, "tag", "v2")

    done = run(project, BETAGEN, "update", ".", "--set", "users=100")
    assert done.returncode == 0, done.stdout + done.stderr
    assert module.read_text().endswith(OUR_CODE)
    assert "# scaffold v2" not in module.read_text()
    assert git(project, "ls-files", "--unmerged") == ""
    assert custom_names(project) == ["invoice_sender", "signup_scorer"]
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["users"] == 100
    changed = git(project, "status", "--porcelain").splitlines()
    assert " M README.md" in changed  # the plan for 100 users
    founders = ("app/workers/custom/", "migrations/02", "tests/test_custom_")
    assert not [line for line in changed if line[3:].startswith(founders)]


def test_a_worker_dropped_from_the_answers_keeps_its_files_and_loses_its_route(project: Path) -> None:
    kept = custom_files(project, "invoice_sender")
    done = run(project, BETAGEN, "update", ".", "--set", f"custom_workers={flow([SIGNUPS])}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert custom_names(project) == ["signup_scorer"]
    assert "my-beta-invoice-sender" not in [schedule_id for schedule_id, _, _ in schedules(project)]
    assert custom_files(project, "invoice_sender") == kept
    notes = [line for line in done.stdout.splitlines() if line.startswith("note: custom worker invoice_sender")]
    assert len(notes) == 1, done.stdout
    assert "app/workers/custom/invoice_sender.py, migrations/0201_invoice_sender.sql" in notes[0]
    # `make test` collects tests/: the kept test of a dropped worker is not collected (its route is gone).
    collected = rendered_pytest(project, "--collect-only", "tests")
    assert "test_custom_invoice_sender.py::" not in collected.stdout
    assert "test_custom_signup_scorer.py::" in collected.stdout


def test_make_worker_adds_one_through_the_answers(project: Path) -> None:
    add = [sys.executable, "scripts/add_worker.py", "--name", "invoice_reminder", "--trigger", "cron"]
    model = ["--model", "DeepSeek-V3.2", "--calls", "4", "--input-tokens", "300", "--output-tokens", "100"]
    done = run(project, *add, "--schedule", "0 9 * * 1", *model)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "$ betagen update . --set 'custom_workers=[" in done.stdout
    assert "--vcs-ref v1" in done.stdout  # the project's template version: no upgrade with it
    assert "template v1 -> v1" in done.stdout  # betagen's plan diff, then its new priced lines
    assert "Azure AI DeepSeek-V3.2 | invoice_reminder (custom worker), input tokens: (none) -> $" in done.stdout
    assert "created app/workers/custom/invoice_reminder.py" in done.stdout
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert [w["name"] for w in answers["custom_workers"]] == ["invoice_sender", "signup_scorer", "invoice_reminder"]
    assert answers["custom_workers"][2] == {
        **answers["custom_workers"][2],
        "trigger": "cron",
        "schedule": "0 9 * * 1",
        "model": "DeepSeek-V3.2",
        "calls_per_user_per_month": 4,
    }
    assert custom_names(project)[-1] == "invoice_reminder"
    assert custom_files(project, "invoice_reminder")[1] == "migrations/0203_invoice_reminder.sql"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--name", "Invoice", "--trigger", "cron", "--schedule", "0 8 * * *"], "NAME='Invoice': a snake_case name"),
        (["--name", "x", "--trigger", "daily"], "TRIGGER='daily': cron or event is allowed"),
        (["--name", "x", "--trigger", "cron"], "SCHEDULE='': a cron worker needs one"),
        (["--name", "signup_scorer", "--trigger", "event"], "a custom worker of that name exists already"),
        (["--name", "x", "--trigger", "event", "--calls", "-1"], "CALLS='-1': a whole number >= 0 is allowed"),
    ],
)
def test_make_worker_refuses_a_mistake_with_one_line(project: Path, args: list[str], error: str) -> None:
    done = run(project, sys.executable, "scripts/add_worker.py", *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and error in done.stderr, done.stderr
    assert git(project, "status", "--porcelain") == ""
