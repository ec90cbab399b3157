"""Create the files of each custom worker of app/plan.json that does not have them yet, and never overwrite one.

A custom worker (the answer `custom_workers`) gets its module app/workers/custom/<name>.py, its migration
migrations/02NN_<name>.sql and its test tests/test_custom_<name>.py, from the templates in scripts/scaffold/
(the *_fanout ones for a cron worker the plan fans out: a per-user function the fan-out calls).
Copier cannot render one file per list item, and these files are the founder's once written, so copier runs this
after every copy and update (copier.yml `_tasks`) and it writes only what is absent. A worker dropped from the
answers loses its route and schedule (they come from the plan) and keeps its files: one note line says so.

Standard library only: copier runs it with its own Python, which may not have the project's dependencies.
"""

from __future__ import annotations

import argparse
import json
import keyword
import subprocess
import sys
from pathlib import Path
from string import Template
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLAN = Path("app/plan.json")
TEMPLATES = Path(__file__).resolve().parent / "scaffold"
MODULES = Path("app/workers/custom")
MIGRATIONS = Path("migrations")
TESTS = Path("tests")
# Custom workers' migrations: after the core (00NN) and the reference workers' (01NN), before anything later.
FIRST_MIGRATION = 201
LINE_LENGTH = 120  # the project's ruff line length (pyproject.toml)


def _python_literal(value: Any) -> str:
    """VALUE as Python source, double-quoted as ruff formats it."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_python_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_python_literal(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return repr(value)
    return json.dumps(value)  # numbers and strings: JSON's spelling is Python's


def _example_source(example: dict[str, Any]) -> str:
    # One key a line with a trailing comma when it does not fit one line, as ruff format leaves it.
    flat = _python_literal(example)
    if len("EXAMPLE: dict[str, Any] = ") + len(flat) <= LINE_LENGTH:
        return flat
    lines = "".join(f"    {json.dumps(str(k))}: {_python_literal(v)},\n" for k, v in example.items())
    return "{\n" + lines + "}"


def _annotation(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list[Any]"
    if isinstance(value, dict):
        return "dict[str, Any]"
    return "Any"


def _fields(example: dict[str, Any], optional: bool) -> tuple[str, bool]:
    """The Payload's field lines (each with a leading newline), and whether they need pydantic's Field."""
    lines: list[str] = []
    aliased = False
    for index, (key, value) in enumerate(example.items()):
        name = key if key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("_") else None
        annotation = _annotation(value)
        if optional and annotation != "Any":
            annotation += " | None"
        default = " = None" if optional or annotation == "Any" else ""
        if name is None:  # not a Python name: a field under another name, read from the key
            aliased = True
            default = f" = Field({'None, ' if default else ''}alias={json.dumps(key)})"
            name = f"field_{index}"
        lines.append(f"\n    {name}: {annotation}{default}")
    note = "\n    # A schedule delivers `{}`: every field is optional." if optional and lines else ""
    return note + "".join(lines), aliased


def _imports(model: bool, aliased: bool) -> str:
    pydantic = "BaseModel, ConfigDict, Field" if aliased else "BaseModel, ConfigDict"
    return "\n".join(
        [
            *(["import json"] if model else []),
            "from typing import Any",
            "",
            "from psycopg.types.json import Jsonb",
            f"from pydantic import {pydantic}",
            "",
            *(["from app.prompts import text_prompt"] if model else []),
            "from app.workers.base import Job, WorkerSpec",
            "",
        ]
    )


def example_of(worker: dict[str, Any]) -> dict[str, Any]:
    """The answer's payload_example; without one, `{}` (a schedule's body too): the founder adds the keys."""
    example = worker.get("payload_example")
    return example if isinstance(example, dict) else {}


def fans_out(worker: dict[str, Any]) -> bool:
    """A cron worker the plan gives a chunk size (one with a model: its calls grow with users) fans out as the
    reference cron workers do (app/fanout.py): its files are the fan-out ones."""
    limits = worker.get("limits") or {}
    return worker["trigger"] == "cron" and limits.get("chunk_size") is not None


def _fanout_imports(aliased: bool) -> str:
    pydantic = "BaseModel, ConfigDict, Field" if aliased else "BaseModel, ConfigDict"
    return "\n".join(
        [
            "import json",
            "from typing import Any",
            "",
            f"from pydantic import {pydantic}",
            "",
            "from app.fanout import Chunk, ChunkRef, fan_out, load_chunk, mark_done, nothing_to_do",
            "from app.prompts import text_prompt",
            "from app.workers.base import Job, WorkerSpec",
            "",
        ]
    )


def users_table_of(name: str) -> str:
    return f"{name}_users"


def module_text(worker: dict[str, Any]) -> str:
    name, model, cron = worker["name"], bool(worker.get("model")), worker["trigger"] == "cron"
    example = example_of(worker)
    fields, aliased = _fields(example, optional=cron)
    if fans_out(worker):
        return _render(
            "worker_fanout.py.tmpl",
            name=name,
            route=worker["route"],
            cron=worker["cron"],
            table=table_of(name),
            users_table=users_table_of(name),
            imports=_fanout_imports(aliased),
            example=_example_source(example),
            fields=fields,
        )
    return _render(
        "worker.py.tmpl",
        name=name,
        route=worker["route"],
        trigger_text=f"cron {worker['cron']}" if cron else "event",
        table=table_of(name),
        imports=_imports(model, aliased),
        example=_example_source(example),
        prompt=(f'\nSYSTEM_PROMPT = "In one sentence: what should {name} do with this message?"\n' if model else ""),
        fields=fields,
        records_answer=" and the model's answer to it" if model else "",
        answer=(
            "    answer = job.complete(text_prompt(SYSTEM_PROMPT, json.dumps(body, sort_keys=True))).text"
            if model
            else "    answer = None  # no model in the plan for this worker: job.complete() would refuse"
        ),
    )


_MODEL_CHECKS = """
    model = plan.worker("$name").model
    assert [call.model for call in services.azure.calls] == [model]
    assert str(scalar(db_conn, "SELECT answer FROM $table")).startswith(f"[{model}]")
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage WHERE worker = %s", "$name") == 1"""

_NO_MODEL_CHECKS = """
    assert plan.worker("$name").model is None
    assert services.azure.calls == []"""

_MODEL_TESTS = """


def test_a_model_error_rolls_the_message_back_for_a_retry(
    courier: Courier, db_conn: psycopg.Connection, services: Services
) -> None:
    services.azure.fail_next(429)
    response = courier.deliver(ROUTE, EXAMPLE)
    assert response.status_code == 500, response.text
    assert response.json()["retryable"] is True
    assert scalar(db_conn, "SELECT count(*) FROM $table") == 0"""


def test_text(worker: dict[str, Any]) -> str:
    name, model = worker["name"], bool(worker.get("model"))
    values = {"name": name, "route": worker["route"], "table": table_of(name)}
    if fans_out(worker):
        return _render("test_fanout.py.tmpl", **values, users_table=users_table_of(name))
    return _render(
        "test.py.tmpl",
        **values,
        model_checks=Template(_MODEL_CHECKS if model else _NO_MODEL_CHECKS).substitute(values),
        model_tests=Template(_MODEL_TESTS).substitute(values) if model else "",
    )


def migration_text(worker: dict[str, Any]) -> str:
    name = worker["name"]
    if fans_out(worker):
        return _render("migration_fanout.sql.tmpl", name=name, table=table_of(name), users_table=users_table_of(name))
    return _render("migration.sql.tmpl", name=name, table=table_of(name))


def table_of(name: str) -> str:
    return f"{name}_records"


def _render(template: str, **values: str) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def _migration_of(root: Path, name: str) -> Path | None:
    found = sorted((root / MIGRATIONS).glob(f"02[0-9][0-9]_{name}.sql"))
    return found[0] if found else None


def _next_migration(root: Path, name: str) -> Path:
    taken = [int(path.name[:4]) for path in (root / MIGRATIONS).glob("02[0-9][0-9]_*.sql")]
    number = max([FIRST_MIGRATION - 1, *taken]) + 1
    return root / MIGRATIONS / f"{number:04d}_{name}.sql"


def files_of(root: Path, worker: dict[str, Any]) -> list[tuple[Path, str]]:
    """A worker's three files and their text; a file it has already (its migration under any number) is left out."""
    name = worker["name"]
    wanted: list[tuple[Path, str]] = [
        (root / MODULES / f"{name}.py", module_text(worker)),
        (root / TESTS / f"test_custom_{name}.py", test_text(worker)),
    ]
    if _migration_of(root, name) is None:
        wanted.insert(1, (_next_migration(root, name), migration_text(worker)))
    return [(path, text) for path, text in wanted if not path.exists()]


def custom_workers(root: Path) -> list[dict[str, Any]]:
    plan = json.loads((root / PLAN).read_text(encoding="utf-8"))
    return [worker for worker in plan["workers"] if worker.get("custom")]


def is_the_project(root: Path) -> bool:
    """During `copier update`, copier also renders the old and the new template version into temporary folders
    and runs the tasks there (https://github.com/copier-org/copier/issues/1422, read 2026-11-25). The files
    scaffolded there would enter copier's diff, so a worker dropped from the answers would have its files deleted
    and a change to these templates merged into the founder's code. Only the project itself is a git checkout
    that tracks the plan (copier updates committed projects only): scaffold there alone."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--error-unmatch", "--", str(PLAN)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def scaffold(root: Path) -> list[str]:
    """Write the absent files; the lines to print (each file created, one note per worker no longer declared)."""
    workers = custom_workers(root)
    lines: list[str] = []
    for worker in workers:
        for path, text in files_of(root, worker):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            lines.append(f"created {path.relative_to(root)} (custom worker {worker['name']}: yours to edit)")
    declared = {worker["name"] for worker in workers}
    for module in sorted((root / MODULES).glob("*.py")):
        name = module.stem
        if name == "__init__" or name in declared:
            continue
        kept = [module, _migration_of(root, name), root / TESTS / f"test_custom_{name}.py"]
        listed = ", ".join(str(path.relative_to(root)) for path in kept if path is not None and path.exists())
        lines.append(
            f"note: custom worker {name} is no longer in the answers (custom_workers): its route and schedule are "
            f"gone, its files are kept ({listed}; its tests no longer run); delete them when you are done with them"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--operation",
        choices=["copy", "update", "manual"],
        default="manual",
        help="what ran it: copier's copy or update (copier.yml `_tasks`), or you (default)",
    )
    args = parser.parse_args(argv)
    if args.operation == "update" and not is_the_project(ROOT):
        return 0  # one of copier's temporary renders, not the project
    for line in scaffold(ROOT):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
