"""Updates carry the plan: template v1 → render → the user's edits → template v2 → update.

The template is copied into its own git repository (copier.yml, template/, hooks/ and the plan engine in
src/generator), tagged v1; v2 changes one price (the NAT gateway-hour in us-east-1, 0.045 → 0.05) or one
template line. Both `copier update` and `betagen update` run as a user runs them, in a subprocess.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from copier import run_copy

from generator.render.engine_loader import load_engine
from generator.render.project import template_root
from generator.reports.formatting import money_range

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
BETAGEN, COPIER = str(BIN / "betagen"), str(BIN / "copier")
V2_ROW = "| The deploy says the stack is busy | another update is running | wait for it, then deploy again |"
NAT_V1, NAT_V2 = "| $0.045 | $32.85 |", "| $0.05 | $36.50 |"
OUR_NOTES = "## Our notes\n\nLaunch on a Tuesday.\n\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(cwd, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


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


def release_v2(repo: Path, old: str, new: str) -> None:
    quick_start = repo / "template" / "QUICK-START.md.jinja"
    text = quick_start.read_text()
    assert old in text
    quick_start.write_text(text.replace(old, new))
    commit_all(repo, "v2")
    git(repo, "tag", "v2")


def release_v2_nat_price(repo: Path) -> None:
    """v2 corrects one price: the NAT gateway-hour in us-east-1, 0.045 → 0.05."""
    prices = repo / "src" / "generator" / "data" / "prices.yaml"
    text = prices.read_text()
    block = re.search(r"\n  nat\.gateway_hour:\n(?:    .*\n)+", text)
    assert block and "us-east-1: {usd: 0.045," in block.group(0)
    changed = block.group(0).replace("us-east-1: {usd: 0.045,", "us-east-1: {usd: 0.05,")
    prices.write_text(text.replace(block.group(0), changed))
    commit_all(repo, "v2: NAT gateway-hour in us-east-1 is $0.05")
    git(repo, "tag", "v2")


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "my-beta"
    run_copy(str(template_repo), str(dest), defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    git(dest, "init", "-q")
    commit_all(dest, "rendered from v1")
    return dest


def user_edits(root: Path) -> None:
    """What a founder changes by hand: a README section and a worker."""
    readme, worker = root / "README.md", root / "app" / "workers" / "data_processing.py"
    readme.write_text(readme.read_text().replace("## Next steps", OUR_NOTES + "## Next steps", 1))
    worker.write_text(worker.read_text() + "\n# our own tuning lives here\n")


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def files_with_markers(root: Path) -> list[str]:
    return [path for path, data in tree(root).items() if b"<<<<<<<" in data or b">>>>>>>" in data]


def fresh_render(repo: Path, dest: Path, ref: str, **answers: Any) -> Path:
    run_copy(str(repo), str(dest), data=answers, defaults=True, unsafe=True, vcs_ref=ref, quiet=True)
    return dest


def v2_plan(repo: Path, **answers: Any) -> dict[str, Any]:
    engine = load_engine(repo / "src" / "generator")
    return dict(json.loads(engine.module("render.context").plan_record(answers)))


UPDATES = {
    "copier update": ([COPIER, "update", "--trust", "--defaults"], lambda a: [f"-d{k}={v}" for k, v in a.items()]),
    "betagen update": ([BETAGEN, "update", "."], lambda a: [f"--set={k}={v}" for k, v in a.items()]),
}


@pytest.mark.parametrize("changes", [{}, {"users": 500}], ids=["same answers", "users=500"])
@pytest.mark.parametrize("command", list(UPDATES))
def test_a_price_change_reaches_the_docs_and_the_project_equals_a_fresh_render(
    template_repo: Path, project: Path, tmp_path: Path, command: str, changes: dict[str, Any]
) -> None:
    assert NAT_V1 in (project / "README.md").read_text()
    user_edits(project)
    commit_all(project, "our edits")
    release_v2_nat_price(template_repo)

    base, options = UPDATES[command]
    done = subprocess.run([*base, *options(changes)], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

    readme = (project / "README.md").read_text()
    assert NAT_V2 in readme and NAT_V1 not in readme
    totals = v2_plan(template_repo, **changes)["totals"]
    for budget in ("infrastructure", "ai"):
        assert money_range(totals[budget]["low"], totals[budget]["high"]) in readme, budget
    # The project is a fresh v2 render with the same answers, plus the user's own edits, and nothing else.
    expected = fresh_render(template_repo, tmp_path / "fresh-v2", "v2", **changes)
    user_edits(expected)
    assert tree(project) == tree(expected)
    assert files_with_markers(project) == []


def test_a_conflicting_edit_is_kept_with_markers_and_reported(template_repo: Path, project: Path) -> None:
    readme = project / "README.md"
    text = readme.read_text()
    nat_row = next(line for line in text.splitlines() if NAT_V1 in line)
    readme.write_text(text.replace(nat_row, nat_row.replace("| A2 |", "| A2 (we negotiated a discount) |")))
    commit_all(project, "our note on the NAT line")
    release_v2_nat_price(template_repo)

    done = subprocess.run([BETAGEN, "update", "."], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "1 file(s) left with conflict markers:\n  README.md\n" in done.stdout
    assert "Traceback" not in done.stderr
    text = readme.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "we negotiated a discount" in text  # never silently dropped
    assert NAT_V2 in text
    assert files_with_markers(project) == ["README.md"]
    assert "UU README.md" in git(project, "status", "--porcelain")


def test_dry_run_prints_the_plan_diff_and_writes_nothing(template_repo: Path, project: Path) -> None:
    release_v2_nat_price(template_repo)
    before = tree(project)
    done = subprocess.run(
        [BETAGEN, "update", ".", "--dry-run"], cwd=project, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    old = json.loads((project / ".betagen" / "plan.json").read_text())
    new = v2_plan(template_repo)
    nat = next(line for line in done.stdout.splitlines() if line.strip().startswith("NAT gateway | 1 gateway"))
    assert "$32.85 ($0.045/gateway-hour) -> $36.50 ($0.05/gateway-hour)" in nat
    for budget in ("infrastructure", "ai") if old["totals"]["ai"] != new["totals"]["ai"] else ("infrastructure",):
        before_total = money_range(old["totals"][budget]["low"], old["totals"][budget]["high"])
        after_total = money_range(new["totals"][budget]["low"], new["totals"][budget]["high"])
        assert f"{before_total} of $300.00 (fits) -> {after_total} of $300.00 (fits)" in done.stdout
    assert "template v1 -> v2" in done.stdout and "dry run: nothing written" in done.stdout
    assert tree(project) == before and git(project, "status", "--porcelain") == ""


def test_the_diff_names_sizing_changes(template_repo: Path, project: Path) -> None:
    done = subprocess.run(
        [BETAGEN, "update", ".", "--dry-run", "--set", "users=500"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    old, new = json.loads((project / ".betagen" / "plan.json").read_text()), v2_plan(template_repo, users=500)
    assert "  users: 50 -> 500\n" in done.stdout
    if old["sizing"]["rds"]["instance_class"] != new["sizing"]["rds"]["instance_class"]:
        assert (
            f"RDS instance class: {old['sizing']['rds']['instance_class']} -> {new['sizing']['rds']['instance_class']}"
            in done.stdout
        )
    assert "template v1 -> v1" in done.stdout  # no newer tag: the same version, new answers


def test_an_update_to_a_plan_at_risk_is_previewed_then_exits_5(template_repo: Path, project: Path) -> None:
    """A budget the low estimate fits and the high one does not: not refused (that is exit 3), but flagged."""
    ai = v2_plan(template_repo, ai_budget=100_000)["totals"]["ai"]
    budget = ((Decimal(ai["low"]) + Decimal(ai["high"])) / 2).quantize(Decimal("0.01"))
    done = subprocess.run(
        [BETAGEN, "update", ".", "--dry-run", "--set", f"ai_budget={budget}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 5, done.stderr
    assert f"of ${budget:,.2f} (at risk)" in done.stdout and "dry run: nothing written" in done.stdout
    warning = done.stderr.splitlines()[-1]
    assert warning.startswith("betagen: warning: at risk: ai ") and "--set ai_budget=" in warning
    assert git(project, "status", "--porcelain") == ""


def test_update_keeps_user_edits_and_applies_v2(template_repo: Path, project: Path) -> None:
    readme, env = project / "README.md", project / ".env.production.local.example"
    readme.write_text(readme.read_text().replace("## Next steps", OUR_NOTES + "## Next steps"))
    env.write_text(env.read_text() + "# our own feature flag\nFEATURE_SEARCH=\n")
    commit_all(project, "our edits")

    last_row = "| Messages in the QStash dead-letter queue |"
    release_v2(template_repo, last_row, V2_ROW + "\n" + last_row)

    done = subprocess.run([BETAGEN, "update", str(project)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plan: no change" in done.stdout

    assert OUR_NOTES in readme.read_text()
    assert "FEATURE_SEARCH=" in env.read_text()
    assert V2_ROW in (project / "QUICK-START.md").read_text()
    assert "_commit: v2" in (project / ".copier-answers.yml").read_text()
    assert files_with_markers(project) == []


def test_update_refuses_a_dirty_repository_in_one_line(template_repo: Path, project: Path) -> None:
    (project / "README.md").write_text("uncommitted\n")
    done = subprocess.run([BETAGEN, "update", str(project)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "dirty" in done.stderr.lower() or "commit" in done.stderr.lower()
