"""The tour step of a custom worker (the answer `custom_workers`), made from its module: no file per worker here,
since the founder owns that worker's code. It sends the module's `EXAMPLE` (a cron worker gets the schedule's
empty body instead) and checks only what every worker leaves, its job done: the effects are the founder's."""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

from devstack.tour_support import Tour, TourError

# After the reference workers: nothing of theirs depends on a custom worker.
ORDER = 100


def step_for(name: str) -> ModuleType:
    """A module-shaped step (the attributes devstack/tour_steps/__init__.py lists) for the custom worker NAME."""
    example: dict[str, Any] = dict(importlib.import_module(f"app.workers.custom.{name}").EXAMPLE)
    step = ModuleType(f"{__name__}.{name}", f"tour step of the custom worker {name}")

    def prepare(tour: Tour) -> None:
        tour.say(f"nothing to seed for {name} (your worker: its module's EXAMPLE is the job)")

    def payload(tour: Tour) -> dict[str, Any]:
        return example

    def check(tour: Tour) -> list[str]:
        done = tour.scalar("SELECT count(*) FROM jobs WHERE worker = %s AND state = 'done'", name)
        if not done:
            raise TourError(f"no {name} job is done")
        return [f"{name}: {done} job(s) done"]

    step.ORDER = ORDER  # type: ignore[attr-defined]
    step.EXAMPLE_PAYLOAD = json.dumps(example)  # type: ignore[attr-defined]
    step.prepare = prepare  # type: ignore[attr-defined]
    step.payload = payload  # type: ignore[attr-defined]
    step.check = check  # type: ignore[attr-defined]
    return step
