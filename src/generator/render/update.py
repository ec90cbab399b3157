"""`betagen update`: the plan diff first, then copier's `run_update`, then the conflicts it left.

Before anything is written, the new plan is priced by the engine of the template version the update
brings (fetched from the project's `_src_path` at that version, loaded by engine_loader) and compared with
the plan the project recorded when it was rendered (.betagen/plan.json): no old template version is
checked out for that. Copier then renders the old version with the old engine and the new one with the
new engine (each version's hooks load their own), so only lines that changed can conflict; each file it
leaves with conflict markers is reported, and the command exits EXIT_CONFLICTS.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.plan.advice import advice_line, advice_refuses
from generator.render.context import PLAN_RECORD
from generator.render.engine_loader import load_engine
from generator.render.project import ANSWERS_FILE, OverBudgetError, RenderError, copier_errors, recorded_answers
from generator.reports.plan_diff import PlanDiff, diff_plans

# Exit code of `betagen update` when files were left with conflict markers (2: bad input, 3: over budget).
EXIT_CONFLICTS = 4
ENGINE_PATH = "src/generator"


@dataclass(frozen=True)
class UpdatePreview:
    """What an update will do, known before it writes."""

    src_path: str
    old_ref: str
    new_ref: str
    answers: dict[str, Any]
    old_plan: dict[str, Any] | None
    new_plan: dict[str, Any]

    @property
    def diff(self) -> PlanDiff | None:
        return diff_plans(self.old_plan, self.new_plan) if self.old_plan is not None else None

    def text(self) -> str:
        head = f"template {self.old_ref} -> {self.new_ref} ({self.src_path})\n"
        if self.diff is None:
            return head + f"no recorded plan in {PLAN_RECORD} (rendered before betagen recorded it): no diff\n"
        return head + self.diff.text()

    @property
    def over_budget(self) -> str:
        """The advice line when the new plan is refused (over budget or capacity), in `--set` syntax ('' when
        it is not)."""
        advice = self.new_plan.get("advice")
        return advice_line(advice, "set") if advice and advice_refuses(advice) else ""

    @property
    def at_risk(self) -> str:
        """The advice line when the new plan is only at risk (its high estimate exceeds a budget), else ''."""
        advice = self.new_plan.get("advice")
        return advice_line(advice, "set") if advice and not advice_refuses(advice) else ""


def preview_update(dest: Path, changes: Mapping[str, Any], *, vcs_ref: str | None = None) -> UpdatePreview:
    """Price the update of DEST with CHANGES to its answers, writing nothing."""
    src_path, old_ref = _recorded_origin(dest)
    new_ref = vcs_ref or latest_version(src_path)
    answers = {**recorded_answers(dest), **changes}
    record = dest / PLAN_RECORD
    old_plan = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    return UpdatePreview(
        src_path=src_path,
        old_ref=old_ref,
        new_ref=new_ref,
        answers=answers,
        old_plan=old_plan,
        new_plan=price_with_version(src_path, new_ref, answers),
    )


def apply_update(dest: Path, changes: Mapping[str, Any], preview: UpdatePreview, *, quiet: bool = True) -> list[str]:
    """Run copier's update to the previewed version; the files it left with conflict markers."""
    if preview.over_budget:
        raise OverBudgetError(preview.over_budget)
    from copier import run_update

    with copier_errors():
        run_update(
            str(dest),
            data=dict(changes),
            defaults=True,
            unsafe=True,
            overwrite=True,
            conflict="inline",
            vcs_ref=preview.new_ref,
            quiet=quiet,
        )
    return conflicted_files(dest)


def conflicted_files(dest: Path) -> list[str]:
    """Files copier left with inline conflict markers: it records each as unmerged in the git index."""
    listed = _git(dest, "ls-files", "--unmerged").splitlines()
    return sorted({line.split("\t", 1)[1] for line in listed if "\t" in line})


def require_clean(dest: Path) -> None:
    """Copier updates a committed project only: say so before pricing, in copier's own words."""
    if not (dest / ANSWERS_FILE).is_file():
        raise RenderError(f"{dest} has no {ANSWERS_FILE}: it was not rendered by this template")
    done = subprocess.run(["git", "-C", str(dest), "status", "--porcelain"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RenderError(
            f"{dest} is not a git repository: copier updates a committed project; run "
            f"`git -C {dest} init && git -C {dest} add -A && git -C {dest} commit -m 'Rendered by betagen'`, "
            "then update it"
        )
    if done.stdout.strip():
        raise RenderError(f"{dest} is dirty (uncommitted changes): commit or stash them, then update")


def latest_version(src_path: str) -> str:
    """The version `copier update` brings by default: the highest PEP 440 release tag, else HEAD."""
    from packaging.version import InvalidVersion, Version

    tags = []
    for line in _git(None, "ls-remote", "--tags", "--refs", "--", src_path).splitlines():
        tag = line.split("\t", 1)[1].removeprefix("refs/tags/")
        try:
            version = Version(tag)
        except InvalidVersion:
            continue
        if not version.is_prerelease:
            tags.append((version, tag))
    return max(tags)[1] if tags else "HEAD"


def price_with_version(src_path: str, ref: str, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The plan JSON for ANSWERS from the engine of the template at SRC_PATH, version REF."""
    with tempfile.TemporaryDirectory(prefix="betagen-engine-") as tmp:
        engine = load_engine(_engine_at(src_path, ref, Path(tmp)))
    user_error = engine.module("errors").UserError
    try:
        return dict(json.loads(engine.module("render.context").plan_record(answers)))
    except user_error as exc:
        raise RenderError(f"template {ref}: {exc}") from None


def _engine_at(src_path: str, ref: str, into: Path) -> Path:
    """The engine folder of the template at REF: its working tree for a local HEAD (uncommitted changes
    included, as copier renders it), else the files of that commit."""
    local = Path(src_path).expanduser()
    if ref == "HEAD" and (local / ENGINE_PATH).is_dir():
        return local / ENGINE_PATH
    _git(into, "init", "-q")
    _git(into, "fetch", "-q", "--depth=1", "--no-tags", "--", src_path, ref)
    _git(into, "checkout", "-q", "FETCH_HEAD", "--", ENGINE_PATH)
    if not (into / ENGINE_PATH).is_dir():
        raise RenderError(f"template {ref} at {src_path} has no {ENGINE_PATH}: cannot price it")
    return into / ENGINE_PATH


def _recorded_origin(dest: Path) -> tuple[str, str]:
    if not (dest / ANSWERS_FILE).is_file():
        raise RenderError(f"{dest} has no {ANSWERS_FILE}: it was not rendered by this template")
    data = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    src_path, commit = data.get("_src_path"), data.get("_commit")
    if not src_path or not commit:
        raise RenderError(
            f"{dest / ANSWERS_FILE} names no template version (_src_path and _commit): it was rendered from a "
            "template folder without git history (an installed betagen); update it from the template's git "
            "repository"
        )
    src = str(src_path)
    if re.match(r"^([a-z+]+://|git@|gh:|gl:)", src):
        return src, str(commit)
    # A local path, read as copier reads it (relative to the working folder), made absolute for git.
    local = Path(src).expanduser()
    if not local.exists():
        raise RenderError(
            f"the template of {dest} is not at {src} (_src_path in {ANSWERS_FILE}; a relative path is read "
            f"from the current folder, {Path.cwd()})"
        )
    return str(local.resolve()), str(commit)


def _git(cwd: Path | None, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problem = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise RenderError(f"git {args[0]}: {problem}")
    return done.stdout
