"""`make worker`: add a custom worker to this project's answers (custom_workers) and render it.

The worker goes through the answers path like any other answer: the existing custom workers are kept, the new
list is given to `betagen update` (which prints the plan diff, then runs `copier update`), or to `copier update`
when betagen is not installed (then the plan diff is git's diff of app/plan.json). Both keep the template version
the project records, so adding a worker brings no template upgrade with it. The update's scaffold step
(scripts/scaffold_workers.py) creates the worker's module, migration and test, ready to edit.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ".copier-answers.yml"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class UsageError(Exception):
    """One line for the user: what is wrong and what is allowed."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", default="", help="snake_case name (NAME=)")
    parser.add_argument("--trigger", default="", help="cron or event (TRIGGER=)")
    parser.add_argument("--schedule", default="", help="cron syntax, cron workers only (SCHEDULE=)")
    parser.add_argument("--model", default="", help="a catalog model, if it calls one (MODEL=)")
    parser.add_argument("--calls", default="", help="calls per user per month (CALLS=)")
    parser.add_argument("--input-tokens", default="", help="input tokens per model call (INPUT_TOKENS=)")
    parser.add_argument("--output-tokens", default="", help="output tokens per model call (OUTPUT_TOKENS=)")
    return parser


def _count(variable: str, text: str) -> int:
    if not text.isdigit():
        raise UsageError(f"{variable}={text!r}: a whole number >= 0 is allowed")
    return int(text)


def new_worker(args: argparse.Namespace) -> dict[str, Any]:
    """The answer's item for ARGS; the plan engine checks the rest (the cron syntax, the model, the budgets)."""
    if not NAME.match(args.name):
        raise UsageError(
            f"NAME={args.name!r}: a snake_case name is allowed (make worker NAME=invoice_sender TRIGGER=cron "
            'SCHEDULE="0 8 * * *")'
        )
    if args.trigger not in ("cron", "event"):
        raise UsageError(f"TRIGGER={args.trigger!r}: cron or event is allowed")
    if (args.trigger == "cron") != bool(args.schedule):
        raise UsageError(
            f'SCHEDULE={args.schedule!r}: a cron worker needs one (cron syntax, e.g. SCHEDULE="0 8 * * *") '
            "and an event worker takes none"
        )
    worker: dict[str, Any] = {"name": args.name, "trigger": args.trigger}
    if args.schedule:
        worker["schedule"] = args.schedule
    if args.model:
        worker["model"] = args.model
    for variable, key, text in (
        ("CALLS", "calls_per_user_per_month", args.calls),
        ("INPUT_TOKENS", "input_tokens", args.input_tokens),
        ("OUTPUT_TOKENS", "output_tokens", args.output_tokens),
    ):
        if text:
            worker[key] = _count(variable, text)
    return worker


def recorded(root: Path) -> dict[str, Any]:
    path = root / ANSWERS
    if not path.is_file():
        raise UsageError(f"{path} is missing: make worker adds to the answers of a project rendered by betagen")
    answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(answers, dict):
        raise UsageError(f"{path} is not a mapping of answers")
    return answers


def workers_with(answers: dict[str, Any], worker: dict[str, Any]) -> list[dict[str, Any]]:
    existing = answers.get("custom_workers") or []
    if not isinstance(existing, list):
        raise UsageError(f"custom_workers in {ANSWERS} is not a list")
    if any(isinstance(item, dict) and item.get("name") == worker["name"] for item in existing):
        raise UsageError(f"NAME={worker['name']!r}: a custom worker of that name exists already ({ANSWERS})")
    return [*existing, worker]


def update_command(answers: dict[str, Any], workers: list[dict[str, Any]]) -> list[str]:
    value = "custom_workers=" + yaml.safe_dump(workers, default_flow_style=True, width=10**6).strip()
    commit = str(answers.get("_commit") or "")
    if shutil.which("betagen"):
        return ["betagen", "update", ".", "--set", value, *(["--vcs-ref", commit] if commit else [])]
    if shutil.which("copier"):
        # --trust: the template runs its scaffold step (copier.yml `_tasks`) and loads its Jinja extensions.
        return ["copier", "update", "--trust", "--defaults", "--vcs-ref=:current:", "--data", value]
    raise UsageError("make worker needs betagen (pip install betagen) or copier (pip install copier) on PATH")


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        worker = new_worker(args)
        answers = recorded(ROOT)
        command = update_command(answers, workers_with(answers, worker))
    except UsageError as exc:
        sys.stderr.write(f"make worker: error: {exc}\n")
        return 2
    sys.stdout.write("$ " + shlex.join(command) + "\n")
    done = subprocess.run(command, cwd=ROOT, check=False)
    if done.returncode != 0:
        return done.returncode
    if command[0] == "copier":
        subprocess.run(["git", "--no-pager", "diff", "--", "app/plan.json"], cwd=ROOT, check=False)
    name = worker["name"]
    sys.stdout.write(
        f"custom worker {name}: edit app/workers/custom/{name}.py (its migration is migrations/02NN_{name}.sql, "
        f"its test tests/test_custom_{name}.py), then `make test`\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
