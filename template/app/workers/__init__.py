"""Worker registry: the plan lists the workers; each lives in `app/workers/<name>.py` and exposes
`WORKER = WorkerSpec(...)`. Only the modules the plan names are imported, so any subset works."""

from __future__ import annotations

import importlib
from typing import Any

from app.plan import Plan
from app.workers.base import WorkerSpec


def load_worker(name: str) -> WorkerSpec[Any]:
    module = importlib.import_module(f"app.workers.{name}")
    spec = getattr(module, "WORKER", None)
    if not isinstance(spec, WorkerSpec):
        raise TypeError(f"app.workers.{name} does not define WORKER = WorkerSpec(...)")
    return spec


def load_workers(plan: Plan) -> dict[str, WorkerSpec[Any]]:
    specs = {worker.name: load_worker(worker.name) for worker in plan.workers}
    for spec in specs.values():
        if spec.plan_section is not None:
            plan.section(*spec.plan_section)  # raises ValueError: missing or invalid section
    return specs
