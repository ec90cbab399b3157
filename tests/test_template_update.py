"""`copier update` keeps the user's edits: template v1 → render → edits → template v2 → update."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from copier import run_copy, run_update

from generator.project import template_root

pytestmark = pytest.mark.slow
BETAGEN = str(Path(sys.executable).with_name("betagen"))
V2_ROW = "| The deploy says the stack is busy | another update is running | wait for it, then deploy again |"


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
    for folder in ("template", "hooks"):
        shutil.copytree(root / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        root / "src" / "generator", repo / "src" / "generator", ignore=shutil.ignore_patterns("__pycache__")
    )
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


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "my-beta"
    run_copy(str(template_repo), str(dest), defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    git(dest, "init", "-q")
    commit_all(dest, "rendered from v1")
    return dest


def no_conflict_markers(root: Path) -> bool:
    return not any(
        "<<<<<<<" in p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
    )


def test_update_keeps_user_edits_and_applies_v2(template_repo: Path, project: Path) -> None:
    readme, env = project / "README.md", project / ".env.production.local.example"
    readme.write_text(
        readme.read_text().replace("## Next steps", "## Our notes\n\nLaunch on a Tuesday.\n\n## Next steps")
    )
    env.write_text(env.read_text() + "# our own feature flag\nFEATURE_SEARCH=\n")
    commit_all(project, "our edits")

    last_row = "| Messages in the QStash dead-letter queue |"
    release_v2(template_repo, last_row, V2_ROW + "\n" + last_row)

    run_update(str(project), defaults=True, unsafe=True, overwrite=True, conflict="inline", quiet=True)

    assert "## Our notes\n\nLaunch on a Tuesday." in readme.read_text()
    assert "FEATURE_SEARCH=" in env.read_text()
    assert V2_ROW in (project / "QUICK-START.md").read_text()
    assert "_commit: v2" in (project / ".copier-answers.yml").read_text()
    assert no_conflict_markers(project)


def test_a_conflicting_edit_is_kept_with_inline_markers(template_repo: Path, project: Path) -> None:
    quick_start = project / "QUICK-START.md"
    heading = "## Troubleshooting"
    quick_start.write_text(quick_start.read_text().replace(heading, "## When things go wrong (our wording)"))
    commit_all(project, "our heading")
    release_v2(template_repo, heading, "## Troubleshooting and support")

    done = subprocess.run([BETAGEN, "update", str(project)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

    text = quick_start.read_text()
    assert "<<<<<<<" in text and ">>>>>>>" in text
    assert "## When things go wrong (our wording)" in text  # never silently dropped
    assert "## Troubleshooting and support" in text


def test_update_refuses_a_dirty_repository_in_one_line(template_repo: Path, project: Path) -> None:
    (project / "README.md").write_text("uncommitted\n")
    done = subprocess.run([BETAGEN, "update", str(project)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "dirty" in done.stderr.lower() or "commit" in done.stderr.lower()
