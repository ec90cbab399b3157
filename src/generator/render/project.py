"""Rendering with copier's public API (`run_copy`): new projects and the checked-in examples.

Copier is imported here only, and only when one of these runs. Answers are validated and priced by the
plan engine before copier starts, so a mistake or an over-budget plan stops with one line and nothing
written; copier's own errors are turned into one line as well. Copier renders the template from where it
is (a git checkout: its working tree, as `copier copy --vcs-ref HEAD` does; an installed wheel: the
template folder it ships), and writes the answers file itself, with the origin `copier update` needs.
`betagen update` is update.py.
"""

from __future__ import annotations

import difflib
import filecmp
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from generator.errors import UserError
from generator.plan.advice import advice_line, advice_refuses
from generator.plan.plan import Plan
from generator.render.context import ANSWER_SYNTAX_VARIABLE
from generator.render.engine_loader import engine_folder, load_engine

EXAMPLE_COMMIT = "example"
EXAMPLE_SRC_PATH = "../.."
ANSWERS_FILE = ".copier-answers.yml"
# The installed template (pyproject.toml ships copier.yml, template/ and hooks/ as this package's data).
TEMPLATE_PACKAGE = "betagen_template"


class RenderError(UserError):
    """Copier could not render or update: printed as one line."""


class OverBudgetError(UserError):
    """The answers price over budget, or past a worker's capacity: nothing is rendered (exit 3, like
    `betagen estimate`)."""

    exit_code = 3


def template_root() -> Path:
    """The folder holding copier.yml, by one rule: the source checkout this package runs from (copier.yml
    two levels above src/generator), else the `betagen_template` folder installed beside the package (a
    wheel or `pip install .`)."""
    package = Path(__file__).resolve().parents[1]  # src/generator (this module is in its render/)
    candidates = (package.parents[1], package.parent / TEMPLATE_PACKAGE)
    for root in candidates:
        if (root / "copier.yml").is_file():
            return root
    raise RenderError(f"template not found: no copier.yml in {' or '.join(map(str, candidates))}")


def checked_plan(answers: Mapping[str, Any], root: Path | None = None) -> Plan:
    """Validate and price before copier runs, with the engine of the template in ROOT (default:
    template_root; usually this very package, then its plan is cached for copier's context hook): the
    same one-line errors as `betagen estimate`."""
    engine = load_engine(engine_folder(root or template_root()))
    try:
        plan: Plan = engine.module("render.context").plan_for(answers)
    except engine.module("errors").UserError as exc:
        if isinstance(exc, UserError):
            raise
        raise RenderError(str(exc)) from None  # another version's engine: its own error types
    # Refused when over budget or capacity; a plan only at risk renders (betagen new exits 5 after).
    advice = plan.advice.model_dump() if plan.advice else None
    if advice_refuses(advice):
        raise OverBudgetError(advice_line(advice or {}, "set"))
    return plan


@contextmanager
def copier_errors() -> Iterator[None]:
    """Copier's errors as one line each; advice in `--set` syntax while betagen drives copier."""
    from copier.errors import CopierError, UnsafeTemplateError, UserMessageError

    previous = os.environ.get(ANSWER_SYNTAX_VARIABLE)
    os.environ[ANSWER_SYNTAX_VARIABLE] = "set"
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
        finally:
            if previous is None:
                os.environ.pop(ANSWER_SYNTAX_VARIABLE, None)
            else:
                os.environ[ANSWER_SYNTAX_VARIABLE] = previous


def new_project(
    dest: Path,
    answers: Mapping[str, Any],
    *,
    defaults: bool,
    quiet: bool = True,
    src: Path | None = None,
) -> Plan:
    """Render a new project with `run_copy` from the template's working tree (SRC, default: template_root)."""
    if dest.exists() and any(dest.iterdir()):
        raise RenderError(f"{dest} exists and is not empty: choose a new folder, or use `betagen update {dest}`")
    root = src or template_root()
    plan = checked_plan(answers, root) if defaults else None
    from copier import run_copy

    with copier_errors():
        # HEAD: a git checkout renders as it is, uncommitted changes included (copier's own rule for a
        # local HEAD), not its latest tag; a plain folder (an installed wheel) has no ref to choose.
        run_copy(str(root), str(dest), data=dict(answers), defaults=defaults, unsafe=True, quiet=quiet, vcs_ref="HEAD")
    return plan or checked_plan(recorded_answers(dest), root)


def recorded_answers(dest: Path) -> dict[str, Any]:
    """The answers in DEST's answers file, without copier's own `_` keys."""
    path = dest / ANSWERS_FILE
    if not path.is_file():
        raise RenderError(f"{dest} has no {ANSWERS_FILE}: it was not rendered by this template")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


def unreachable_origin(dest: Path) -> str:
    """A note when the template version DEST records cannot be found again: rendered from a checkout with
    uncommitted changes, copier records the commit it made in its temporary clone ('' otherwise)."""
    import subprocess

    data = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    src, commit = data.get("_src_path"), data.get("_commit")
    if not src or not commit or not Path(str(src)).is_dir():
        return ""
    found = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode == 0:
        return ""
    return (
        f"the template in {src} had uncommitted changes: {dest} records version {commit}, which only copier's "
        "temporary clone had, so `betagen update` cannot start from it; render from a committed template for a "
        "project you will update"
    )


def next_steps(dest: Path, root: Path | None = None) -> str:
    """The template's own message after a copy (copier.yml's `_message_after_copy`), rendered for DEST: what
    `copier copy` prints, so `betagen new` gives the same next steps without copier's per-file output."""
    from jinja2 import Environment

    config = yaml.safe_load(((root or template_root()) / "copier.yml").read_text(encoding="utf-8")) or {}
    message = str(config.get("_message_after_copy", ""))
    context = {**recorded_answers(dest), "_copier_conf": {"dst_path": dest}}
    return Environment(autoescape=False, keep_trailing_newline=False).from_string(message).render(context).strip()


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


def record_template_origin(dest: Path, *, src_path: str, commit: str | None) -> None:
    """Pin `_src_path` and `_commit` in an example's answers file, so its bytes do not change with every
    commit. Examples only: a project's answers file is copier's alone."""
    path = dest / ANSWERS_FILE
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith(("_commit:", "_src_path:"))
    ]
    origin = ([f"_commit: {commit}"] if commit else []) + [f"_src_path: {src_path}"]
    path.write_text("\n".join(origin + kept) + "\n", encoding="utf-8")


def render_example(answers: Mapping[str, Any], dest: Path) -> None:
    new_project(dest, answers, defaults=True)
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
