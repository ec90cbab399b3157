"""Worker registry: the plan lists the workers; each lives in `app/workers/<name>.py` (a custom worker, one
declared in the answer `custom_workers`: `app/workers/custom/<name>.py`) and exposes `WORKER = WorkerSpec(...)`.
Only the modules the plan names are imported, so any subset works, and a custom worker dropped from the answers
keeps its files but loses its route."""

from __future__ import annotations

import importlib
from typing import Any

from app.plan import Plan, WorkerPlan
from app.workers.base import WorkerSpec

SCAFFOLD = "scripts/scaffold_workers.py"


def module_name(worker: WorkerPlan) -> str:
    return f"app.workers.custom.{worker.name}" if worker.custom else f"app.workers.{worker.name}"


def load_worker(worker: WorkerPlan) -> WorkerSpec[Any]:
    name = module_name(worker)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not worker.custom or exc.name != name:
            raise
        # The scaffold creates it after copier copy/update (copier.yml `_tasks`); a repo rendered with tasks
        # skipped has none yet.
        raise ModuleNotFoundError(
            f"custom worker {worker.name}: app/workers/custom/{worker.name}.py is missing; "
            f"run `python {SCAFFOLD}` to create it",
            name=name,
        ) from None
    spec = getattr(module, "WORKER", None)
    if not isinstance(spec, WorkerSpec):
        raise TypeError(f"{name} does not define WORKER = WorkerSpec(...)")
    return spec


def load_workers(plan: Plan) -> dict[str, WorkerSpec[Any]]:
    specs = {worker.name: load_worker(worker) for worker in plan.workers}
    for spec in specs.values():
        if spec.plan_section is not None:
            plan.section(*spec.plan_section)  # raises ValueError: missing or invalid section
    return specs
