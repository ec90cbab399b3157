"""Rendering with copier: new projects, updates, and the checked-in examples.

Copier is imported here only, and only when one of these runs. Answers are validated and priced by the
plan engine before copier starts, so a mistake or an over-budget plan stops with one line and nothing
written; copier's own errors are turned into one line as well.
"""

from __future__ import annotations

import difflib
import filecmp
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from generator.errors import UserError
from generator.plan import Plan
from generator.render_context import answers_from_context, plan_for

EXAMPLE_COMMIT = "example"
EXAMPLE_SRC_PATH = "../.."
ANSWERS_FILE = ".copier-answers.yml"
# What copier needs from this repository to render in this process: the rest (tests, examples, history)
# is not cloned, and the hooks import the plan engine this process has already loaded (src/generator).
TEMPLATE_PARTS = ("copier.yml", "template", "hooks")


class RenderError(UserError):
    """Copier could not render or update: printed as one line."""


class OverBudgetError(UserError):
    """The answers price over budget: nothing is rendered (exit 3, like `betagen estimate`)."""

    exit_code = 3


def template_root() -> Path:
    """The folder holding copier.yml: this checkout's root."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "copier.yml").is_file():
        raise RenderError(f"template not found: no copier.yml in {root}")
    return root


def checked_plan(answers: Mapping[str, Any]) -> Plan:
    """Validate and price before copier runs: the same one-line errors as `betagen estimate`."""
    plan = plan_for(answers)  # cached: copier's context hook reuses it
    if plan.advice:
        raise OverBudgetError(plan.advice.one_line())
    return plan


@contextmanager
def _copier_errors() -> Iterator[None]:
    from copier.errors import CopierError, UnsafeTemplateError, UserMessageError

    with warnings.catch_warnings():
        # A dirty checkout of the template is how its developers work; copier warns on every render.
        warnings.filterwarnings("ignore", message="Dirty template changes included automatically")
        try:
            yield
        except UserMessageError as exc:
            raise RenderError(exc.message.removeprefix("betagen: ")) from None
        except UnsafeTemplateError as exc:
            raise RenderError(" ".join(exc.args)) from None
        except CopierError as exc:
            raise RenderError(str(exc)) from None
        except ValueError as exc:
            # Copier reports a failed validator as "Validation error for question 'x': <our message>".
            message = str(exc).strip().splitlines()[-1]
            _, sep, ours = message.partition("': ")
            raise RenderError(ours if sep and message.startswith("Validation error") else message) from None


def new_project(
    dest: Path,
    answers: Mapping[str, Any],
    *,
    defaults: bool,
    quiet: bool = True,
    src: Path | None = None,
) -> Plan:
    """Render a new project from the template's working tree.

    Copier clones any template that is a git repository (the whole repository, plus a commit of any
    uncommitted change) before rendering; rendering from a snapshot of the template's own parts skips
    that, and the answers file then records the origin copier would have: this checkout and its
    `git describe`, so `copier update` works as usual.
    """
    if dest.exists() and any(dest.iterdir()):
        raise RenderError(f"{dest} exists and is not empty: choose a new folder, or use `betagen update {dest}`")
    root = src or template_root()
    plan = checked_plan(answers) if defaults else None
    from generator.copier_worker import NewProjectWorker

    with tempfile.TemporaryDirectory(prefix="betagen-template-") as tmp, _copier_errors():
        snapshot = template_snapshot(root, Path(tmp))
        with NewProjectWorker(
            src_path=str(snapshot),
            dst_path=dest,
            data=dict(answers),
            defaults=defaults,
            unsafe=True,  # our own template: its context hook and extensions are trusted explicitly
            quiet=quiet,
        ) as worker:
            worker.run_copy()
        chosen = answers_from_context(worker.answers.combined)
    record_template_origin(dest, src_path=str(root), commit=_describe(root))
    return plan or checked_plan(chosen)


def template_snapshot(root: Path, into: Path) -> Path:
    """What copier needs of the template, in INTO: a plain folder, so copier reads it without cloning."""
    into.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source, target = root / part, into / part
        if source.is_dir():
            # Bytecode would be rendered from template/; the hooks' bytecode spares compiling them again.
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc") if part == "template" else None
            shutil.copytree(source, target, ignore=ignore, copy_function=_link_or_copy)
        else:
            _link_or_copy(source, target)
    # Copied folders keep their modes. A read-only one would make removing the snapshot fail, and the
    # clean-up's fallback chmods the file, which is the checkout's own file through the hard link.
    for folder, _, _ in os.walk(into):
        mode = os.stat(folder).st_mode
        if mode & stat.S_IRWXU != stat.S_IRWXU:
            os.chmod(folder, mode | stat.S_IRWXU)
    return into


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link where the file system allows one (copier only reads the snapshot), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _describe(root: Path) -> str | None:
    """The template version copier would record: `git describe --tags --always` of the checkout."""
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(root), "describe", "--tags", "--always"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 and (root / ".git").exists() else None


def record_template_origin(dest: Path, *, src_path: str, commit: str | None) -> None:
    """Write `_src_path` and `_commit` at the top of the answers file (copier sorts them first)."""
    path = dest / ANSWERS_FILE
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith(("_commit:", "_src_path:"))
    ]
    origin = ([f"_commit: {commit}"] if commit else []) + [f"_src_path: {src_path}"]
    path.write_text("\n".join(origin + kept) + "\n", encoding="utf-8")


def update_project(dest: Path, answers: Mapping[str, Any], *, defaults: bool = True, quiet: bool = True) -> None:
    if not (dest / ANSWERS_FILE).is_file():
        raise RenderError(f"{dest} has no {ANSWERS_FILE}: it was not rendered by this template")
    current = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    checked_plan({**current, **answers})
    from copier import run_update

    with _copier_errors():
        run_update(
            str(dest),
            data=dict(answers),
            defaults=defaults,
            unsafe=True,
            overwrite=True,
            conflict="inline",
            quiet=quiet,
        )


def written_files(dest: Path) -> list[Path]:
    return sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts)


# --- examples ----------------------------------------------------------------------------------------


def examples_dir() -> Path:
    return template_root() / "examples"


def example_answers(folder: Path) -> dict[Path, dict[str, Any]]:
    """Each `examples/<name>.yml` and the folder `examples/<name>/` it renders into."""
    found = {}
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found[folder / path.stem] = data
    if not found:
        raise RenderError(f"no answers files (*.yml) in {folder}")
    return found


def render_example(answers: Mapping[str, Any], dest: Path) -> None:
    new_project(dest, answers, defaults=True)
    # Pin what changes with every template commit, so an example's bytes are stable.
    record_template_origin(dest, src_path=EXAMPLE_SRC_PATH, commit=EXAMPLE_COMMIT)


def write_examples(folder: Path | None = None) -> list[Path]:
    folder = folder or examples_dir()
    written = []
    for target, answers in example_answers(folder).items():
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / target.name
            render_example(answers, staged)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(staged, target)
        written.append(target)
    return written


def check_examples(folder: Path | None = None) -> list[str]:
    """Re-render every example in a temporary folder; the differences, as unified diffs (empty: none)."""
    folder = folder or examples_dir()
    problems: list[str] = []
    for target, answers in example_answers(folder).items():
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / target.name
            render_example(answers, fresh)
            problems += _diff_trees(target, fresh, label=target.relative_to(folder.parent))
    return problems


def _diff_trees(checked_in: Path, fresh: Path, label: Path) -> list[str]:
    if not checked_in.is_dir():
        return [f"{label}: missing (run `betagen examples`)"]
    old, new = set(written_files(checked_in)), set(written_files(fresh))
    problems = [f"{label}/{p}: not rendered any more" for p in sorted(old - new)]
    problems += [f"{label}/{p}: rendered but not checked in" for p in sorted(new - old)]
    for rel in sorted(old & new):
        a, b = checked_in / rel, fresh / rel
        if filecmp.cmp(a, b, shallow=False):
            continue
        diff = difflib.unified_diff(
            a.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True),
            b.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True),
            fromfile=f"{label}/{rel} (checked in)",
            tofile=f"{label}/{rel} (rendered now)",
        )
        problems.append("".join(diff))
    return problems
