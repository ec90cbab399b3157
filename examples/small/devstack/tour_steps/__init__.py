"""One module per chosen worker (rendered only when the worker is): what the tour seeds for it, the job it
sends (event workers) and the effects it checks afterwards. Each module provides:

- `ORDER`: when it runs (an aggregating worker before the one that reads its aggregates);
- `prepare(tour)`: seed rows or objects, print what was seeded;
- `payload(tour)`: the JSON body of its job (cron workers get the schedule's empty body instead);
- `check(tour)`: lines describing the effects, raising `TourError` when one is missing;
- `EXAMPLE_PAYLOAD`: what `make dev` suggests sending it;
- optionally `seed_example(stack)`: put in place what EXAMPLE_PAYLOAD refers to (`make dev` calls it), and
  describe it in one line;
- for cron workers, `seed_users(conn, users, now=, rng=, webhook_base=)`: realistic data for many users at
  once, described in one line (the capacity benchmark and the fan-out tests), and, for a worker that does not
  fan out, `users_done(conn, users, now)`: how many of them its tick served (fanned-out ticks count their
  done chunks in `fanout_chunks`); for a fanned-out worker, `effects(conn)` (rows its effect wrote) and
  `seed_oversized(conn, user, text, now=, webhook_base=)` (a user whose prompt outgrows any cap), for the
  fan-out tests.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.stack import LocalStack


def load(names: list[str]) -> list[tuple[str, ModuleType]]:
    """The step modules of these workers, in the order they run (a custom worker's: devstack/tour_steps/custom.py)."""
    custom = _custom_workers()
    modules = [(name, _step(name, custom)) for name in names]
    return sorted(modules, key=lambda item: int(item[1].ORDER))


def _step(name: str, custom: set[str]) -> ModuleType:
    if name in custom:
        from devstack.tour_steps.custom import step_for

        return step_for(name)
    return importlib.import_module(f"{__name__}.{name}")


def _custom_workers() -> set[str]:
    from app.plan import load_plan
    from app.settings import DEFAULT_PLAN_PATH

    return {worker.name for worker in load_plan(DEFAULT_PLAN_PATH).workers if worker.custom}


def example_payloads(names: list[str]) -> dict[str, str]:
    return {name: str(module.EXAMPLE_PAYLOAD) for name, module in load(names)}


def seed_examples(names: list[str], stack: LocalStack) -> list[str]:
    """Seeds what the example payloads refer to; one line per worker that needed something."""
    return [str(module.seed_example(stack)) for _, module in load(names) if hasattr(module, "seed_example")]
