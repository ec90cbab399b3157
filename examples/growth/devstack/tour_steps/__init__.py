"""One module per chosen worker (rendered only when the worker is): what the tour seeds for it, the job it
sends (event workers) and the effects it checks afterwards. Each module provides:

- `ORDER`: when it runs (an aggregating worker before the one that reads its aggregates);
- `prepare(tour)`: seed rows or objects, print what was seeded;
- `payload(tour)`: the JSON body of its job (cron workers get the schedule's empty body instead);
- `check(tour)`: lines describing the effects, raising `TourError` when one is missing;
- `EXAMPLE_PAYLOAD`: what `make dev` suggests sending it.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def load(names: list[str]) -> list[tuple[str, ModuleType]]:
    """The step modules of these workers, in the order they run."""
    modules = [(name, importlib.import_module(f"{__name__}.{name}")) for name in names]
    return sorted(modules, key=lambda item: int(item[1].ORDER))


def example_payloads(names: list[str]) -> dict[str, str]:
    return {name: str(module.EXAMPLE_PAYLOAD) for name, module in load(names)}
