"""The answer `custom_workers`: the founder's own workers, declared beside the reference ones.

Each item is one worker: a QStash route `/workers/<name-with-dashes>`, triggered by a schedule (`cron`: with a
model, fanned out as the reference cron workers, a tick a run and one message per chunk of users; without one,
one message a run) or by the founder's own publishes (`event`, one message a job), optionally calling one
model of the catalog. The plan prices it like the reference workers (plan/sizing.py) and the
rendered code obeys its limits (app/plan.json). Every invalid item is one AnswerError naming
`custom_workers[<index>].<key>`, the item and what is allowed.

What a unit of work is, for `model_calls_per_unit` (one model call per unit):
- event: a message (one job); calls_per_user_per_month is the messages a user causes a month.
- cron: a user in one run, as for the reference cron workers; calls_per_user_per_month is the calls a user
  causes a month, at most one per run.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator.errors import AnswerError
from generator.plan.catalog import load_catalog
from generator.plan.cron import CRON_SYNTAX, Cron, CronError, parse_cron, runs_per_month
from generator.plan.rules import FAILURE_CALLBACK_ROUTE, load_rules

FIELD = "custom_workers"
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
NAME_RULE = "snake_case: a lowercase letter, then lowercase letters, digits and single underscores"
TRIGGERS = ("cron", "event")


class CustomWorker(BaseModel):
    """One validated item of `custom_workers`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    trigger: Literal["cron", "event"]
    # Cron syntax, UTC (cron only).
    schedule: str | None = None
    # A model of the price catalog, not retired; None: the worker calls no model.
    model: str | None = None
    calls_per_user_per_month: Annotated[float, at.Ge(0), Field(allow_inf_nan=False)] = 0
    # Per model call: what the plan prices and the most the code sends (input) and asks for (max_tokens).
    input_tokens: Annotated[int, at.Ge(0)] = 0
    output_tokens: Annotated[int, at.Ge(0)] = 0
    # A message body the worker accepts: the rendered example and test send it (None: none given).
    payload_example: dict[str, Any] | None = None

    @property
    def route(self) -> str:
        return worker_route(self.name)

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()

    def cron(self) -> Cron | None:
        return parse_cron(self.schedule) if self.schedule else None


def worker_route(name: str) -> str:
    return f"/workers/{name.replace('_', '-')}"


def custom_payload_limit() -> int:
    return load_rules().constants.custom_worker_max_payload_bytes


def parse_custom_workers(value: Any) -> tuple[CustomWorker, ...]:
    """The validated list (YAML gives a list of mappings; `[]` or nothing: no custom worker)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise AnswerError(FIELD, f"{value!r} is not a list", "a YAML list of workers, e.g. [{name: x, trigger: event}]")
    workers: list[CustomWorker] = []
    for index, item in enumerate(value):
        worker = _item(index, item)
        if worker.name in {w.name for w in workers}:
            raise AnswerError(f"{FIELD}[{index}].name", f"{worker.name!r} is listed twice", "a unique name")
        workers.append(worker)
    return tuple(workers)


def _item(index: int, item: Any) -> CustomWorker:
    where = f"{FIELD}[{index}]"
    keys = ", ".join(CustomWorker.model_fields)
    if isinstance(item, CustomWorker):
        item = item.model_dump()
    if not isinstance(item, Mapping):
        raise AnswerError(where, f"{item!r} is not a mapping", f"a mapping with the keys {keys}")
    label = f"{item.get('name')!r}: " if isinstance(item.get("name"), str) else ""
    for key in ("name", "trigger"):
        if key not in item:
            raise AnswerError(f"{where}.{key}", f"{label}missing", _allowed(key))
    try:
        worker = CustomWorker.model_validate(dict(item))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            raise AnswerError(f"{where}.{key}", f"{label}is not a key of a custom worker", keys) from None
        raise AnswerError(f"{where}.{key}", f"{label}{error.get('input')!r} is not valid", _allowed(key)) from None
    _check(where, f"{worker.name!r}: ", worker)
    return worker


def _allowed(key: str) -> str:
    return {
        "name": NAME_RULE,
        "trigger": ", ".join(TRIGGERS),
        "schedule": CRON_SYNTAX,
        "model": ", ".join(load_catalog().available_models()),
        "calls_per_user_per_month": "a finite number >= 0",
        "input_tokens": "a whole number >= 0",
        "output_tokens": "a whole number >= 0",
        "payload_example": f"a mapping whose JSON is at most {custom_payload_limit():,} bytes",
    }.get(key, "")


def _check(where: str, label: str, worker: CustomWorker) -> None:
    rules, catalog = load_rules(), load_catalog()
    name = worker.name
    if not NAME.match(name) or keyword.iskeyword(name):
        raise AnswerError(f"{where}.name", f"{name!r} is not a worker name", NAME_RULE + ", not a Python keyword")
    # Reference workers' names and their model uses (budget line ids ai_<use>_input) are taken; so is every
    # route the app serves under /workers/.
    taken_routes = {spec.route: ref for ref, spec in rules.workers.items()} | {FAILURE_CALLBACK_ROUTE: "failure"}
    if name in rules.workers or name in rules.model_uses:
        raise AnswerError(
            f"{where}.name",
            f"{name!r} is a reference worker's name or model use",
            f"a name other than {', '.join([*rules.workers, *rules.model_uses])}",
        )
    if worker.route in taken_routes:
        raise AnswerError(
            f"{where}.name",
            f"{label}its route {worker.route} is the app's {taken_routes[worker.route]} route",
            "a name whose route is free",
        )
    _check_schedule(where, label, worker)
    _check_model(where, label, worker, catalog.available_models())
    _check_payload(where, label, worker)


def _check_schedule(where: str, label: str, worker: CustomWorker) -> None:
    if worker.trigger == "event":
        if worker.schedule is not None:
            raise AnswerError(f"{where}.schedule", f"{label}an event worker has no schedule", "no schedule key")
        return
    if not worker.schedule:
        raise AnswerError(f"{where}.schedule", f"{label}a cron worker needs a schedule", CRON_SYNTAX)
    try:
        cron = parse_cron(worker.schedule)
    except CronError as exc:
        raise AnswerError(f"{where}.schedule", f"{label}{exc}", CRON_SYNTAX) from None
    runs = float(runs_per_month(cron))
    if not worker.model and worker.calls_per_user_per_month:
        # Its messages are one a run whatever the users: a figure per user would be priced as nothing.
        raise AnswerError(
            f"{where}.calls_per_user_per_month",
            f"{label}a cron worker without a model sends one message a run; calls_per_user_per_month counts "
            "model calls",
            "0, or set model",
        )
    if worker.model and worker.calls_per_user_per_month > runs:
        raise AnswerError(
            f"{where}.calls_per_user_per_month",
            f"{label}{worker.calls_per_user_per_month:g} calls a user a month is more than one a run "
            f"({worker.schedule!r} runs {runs:,.2f} times a month)",
            f"at most {runs:,.2f}",
        )


def _check_model(where: str, label: str, worker: CustomWorker, available: list[str]) -> None:
    if worker.model is None:
        for key in ("input_tokens", "output_tokens"):
            if getattr(worker, key):
                raise AnswerError(f"{where}.{key}", f"{label}tokens without a model", "0, or set model")
        return
    known = load_catalog().models.get(worker.model)
    if known is None:
        raise AnswerError(
            f"{where}.model", f"{label}{worker.model!r} is not in the price catalog", ", ".join(available)
        )
    if known.lifecycle.retired:
        raise AnswerError(
            f"{where}.model", f"{label}{worker.model!r} was {known.lifecycle.describe()}", ", ".join(available)
        )
    for key in ("input_tokens", "output_tokens"):
        if getattr(worker, key) < 1:
            raise AnswerError(
                f"{where}.{key}",
                f"{label}a worker that calls a model needs its {key.replace('_', ' ')} per call",
                "a whole number >= 1",
            )


def _check_payload(where: str, label: str, worker: CustomWorker) -> None:
    limit = custom_payload_limit()
    if worker.payload_example is None:
        return
    try:
        size = len(json.dumps(worker.payload_example, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError):
        raise AnswerError(
            f"{where}.payload_example",
            f"{label}is not JSON (a date, a set or a non-finite number)",
            "strings, numbers, booleans, null, lists and mappings with text keys",
        ) from None
    if size > limit:
        raise AnswerError(
            f"{where}.payload_example",
            f"{label}its JSON is {size:,} bytes, above the custom workers' payload limit",
            f"at most {limit:,} bytes",
        )
