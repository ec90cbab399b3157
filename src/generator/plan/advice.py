"""Why a plan is refused, and what to change: over budget (the smallest single change that fits, and the
budget raise) or over a worker's capacity (the schedule or user count that lifts it). The one place that
decides: a plan with advice is refused by `betagen estimate` (exit 3), `betagen new` and `update`, and
copier's context hook."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import SCHEDULE_MINUTES, Answers
from generator.plan.capacity import WorkerCapacity, capacity, worker_capacity
from generator.plan.catalog import Catalog
from generator.plan.core import PricedPlan, price_plan
from generator.plan.rules import Rules
from generator.plan.sizing import size


class CapacityOverrun(BaseModel):
    """A worker that cannot serve the plan's users within its schedule, and what lifts it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    worker: str
    users: int
    max_users: int
    limiting: str
    problem: str
    # A change no single answer expresses (a faster model), or None.
    change: str | None
    # The answers that lift the limit (a longer schedule), or None.
    change_answers: dict[str, Any] | None
    # The most users this stack serves, when fewer users is a way out.
    fewer_users: int | None


class Advice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    overruns: tuple[str, ...]
    change: str | None
    change_answers: dict[str, Any] | None
    raise_budgets: dict[str, int]
    capacity: tuple[CapacityOverrun, ...] = ()

    def one_line(self, syntax: str = "estimate") -> str:
        return advice_line(self.model_dump(), syntax)


# How each command takes an answer: the advice names the change in the syntax of the command in use.
ANSWER_SYNTAXES = ("estimate", "set", "copier")


def answer_option(key: str, value: Any, syntax: str = "estimate") -> str:
    """One answer as a command takes it: `--users 500` (betagen estimate), `--set users=500` (betagen new
    and update), `-d users=500` (copier)."""
    if isinstance(value, Mapping):  # usage: one --usage per key, else a YAML flow mapping
        if syntax == "estimate":
            return " ".join(f"--{key.replace('_', '-')} {k}={v}" for k, v in value.items())
        text = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    elif isinstance(value, list | tuple):
        items = ",".join(str(v) for v in value)
        text = items if syntax == "estimate" else f"[{items}]"
    else:
        text = str(value)
    if syntax == "estimate":
        return f"--{key.replace('_', '-')} {text}"
    if syntax == "set":
        return f"--set {key}={text}"
    if syntax == "copier":
        return f"-d {key}={text}"
    raise ValueError(f"answer syntax {syntax!r}: one of {', '.join(ANSWER_SYNTAXES)}")


def advice_line(advice: Mapping[str, Any], syntax: str = "estimate") -> str:
    """The advice as one line, from its JSON form too (`betagen update` phrases another version's advice,
    which may predate capacity)."""
    parts = [_budget_text(advice, syntax)] if advice.get("overruns") else []
    parts += [_capacity_text(overrun, syntax) for overrun in advice.get("capacity") or ()]
    return "; ".join(parts)


def _budget_text(advice: Mapping[str, Any], syntax: str) -> str:
    text = "over budget: " + "; ".join(advice["overruns"])
    raises = " and ".join(answer_option(k, v, syntax) for k, v in advice["raise_budgets"].items())
    change = advice.get("change")
    if not change:
        return f"{text}. Raise {raises} to fit"
    options = " ".join(answer_option(k, v, syntax) for k, v in (advice.get("change_answers") or {}).items())
    if change.startswith("--"):  # the label is estimate's own flag: say it the way the command in use takes it
        change = options or change
    elif options:
        change = f"{change} ({options})"
    return f"{text}. Cheapest change that fits: {change} (or raise {raises})"


def _capacity_text(overrun: Mapping[str, Any], syntax: str) -> str:
    ways = []
    if overrun.get("change_answers"):
        ways.append(" ".join(answer_option(k, v, syntax) for k, v in overrun["change_answers"].items()))
    elif overrun.get("change"):
        ways.append(overrun["change"])
    if overrun.get("fewer_users"):
        ways.append(answer_option("users", overrun["fewer_users"], syntax))
    lift = f"; lift it with {' or '.join(ways)}" if ways else ""
    return f"over capacity: {overrun['problem']}{lift}"


def advise(answers: Answers, plan: PricedPlan, rules: Rules, catalog: Catalog) -> Advice | None:
    over = plan.totals.over()
    over_capacity = _capacity_overruns(answers, plan, rules, catalog)
    if not over:
        if not over_capacity:
            return None
        return Advice(overruns=(), change=None, change_answers=None, raise_budgets={}, capacity=over_capacity)
    overruns = tuple(
        f"{t.budget} ${t.low:,.2f}/month exceeds the {_budget_field(t.budget)} of ${t.limit:,.2f} "
        f"by ${t.low - t.limit:,.2f}"
        for t in over
    )
    raises = {_budget_field(t.budget): math.ceil(t.high) for t in over}
    for label, update in _candidates(answers, plan, rules, catalog):
        if not price_plan(answers.model_copy(update=update), catalog, rules).totals.over():
            return Advice(
                overruns=overruns, change=label, change_answers=update, raise_budgets=raises, capacity=over_capacity
            )
    return Advice(overruns=overruns, change=None, change_answers=None, raise_budgets=raises, capacity=over_capacity)


# What bounds a worker's capacity, as the refusal names it.
LIMITING = {
    "parallelism": "QStash flow-control parallelism",
    "database_connections": "database connections",
    "message_deadline": "message deadline",
    "schedule_period": "schedule period",
}


def _capacity_overruns(
    answers: Answers, plan: PricedPlan, rules: Rules, catalog: Catalog
) -> tuple[CapacityOverrun, ...]:
    found = []
    for worker, cap in plan.over_capacity(answers.users).items():
        change, change_answers = _capacity_lift(worker, cap, answers, plan, rules)
        found.append(
            CapacityOverrun(
                worker=worker,
                users=answers.users,
                max_users=cap.max_users,
                limiting=cap.limiting,
                problem=_capacity_problem(worker, cap, answers),
                change=change,
                change_answers=change_answers,
                fewer_users=_most_users_within_capacity(answers, rules, catalog) if cap.max_users else None,
            )
        )
    return tuple(found)


def _capacity_problem(worker: str, cap: WorkerCapacity, answers: Answers) -> str:
    figures, usage = cap.figures, answers.usage
    if cap.limiting == "message_deadline":
        calls, deadline = figures["model_calls_per_unit"], figures["message_deadline_seconds"]
        return (
            f"{worker} cannot serve a single user: {calls:g} model call at the p95 latency of "
            f"{usage.model_latency_p95_seconds:g} s does not fit its {deadline:g} s message deadline"
        )
    if cap.limiting == "schedule_period":
        return (
            f"{worker} cannot serve a single user: one message takes {figures['message_seconds_p50']:g} s, longer "
            f"than its {figures['period_seconds'] / 60:g}-minute schedule"
        )
    return (
        f"{worker} serves at most {cap.max_users:,} users, not {answers.users:,} "
        f"(limit: {LIMITING[cap.limiting]}; {cap.basis})"
    )


def _capacity_lift(
    worker: str, cap: WorkerCapacity, answers: Answers, plan: PricedPlan, rules: Rules
) -> tuple[str | None, dict[str, Any] | None]:
    """The change that lifts a worker's limit: the shortest longer schedule that serves the users, or (when
    one user's calls do not fit a message) the model latency it would take."""
    usage, figures = answers.usage, cap.figures
    if cap.limiting == "message_deadline":
        p95 = (figures["message_deadline_seconds"] - usage.job_base_seconds) / figures["model_calls_per_unit"]
        return f"a model answering within {p95:g} s at p95 (usage model_latency_p95_seconds)", None
    field = rules.workers[worker].schedule_field
    assert field is not None  # a cron worker
    current = int(getattr(usage, field))
    for minutes in SCHEDULE_MINUTES:
        if minutes > current:
            longer = worker_capacity(worker, answers.users, minutes, usage, plan.sizing, rules)
            if longer.max_users >= answers.users:
                overrides = usage.model_dump(mode="json", exclude_defaults=True)
                return None, {"usage": {**overrides, field: minutes}}
    return None, None


def _most_users_within_capacity(answers: Answers, rules: Rules, catalog: Catalog) -> int | None:
    """The most users below the answer that every worker serves. Within a tier a worker's capacity does not
    depend on the user count (the tier sets parallelism and the database), so one look per tier suffices."""
    for index in reversed(range(len(rules.tiers))):
        floor = rules.tiers[index - 1].max_users + 1 if index else 1
        top = min(rules.tiers[index].max_users, answers.users - 1)
        if top < floor:
            continue
        fewer = answers.model_copy(update={"users": top})
        caps = capacity(top, fewer.usage, size(fewer, rules, catalog), rules)
        most = min((c.max_users for c in caps.values()), default=top)
        if most >= floor:
            return min(top, most)
    return None


def _budget_field(budget: str) -> str:
    return "aws_budget" if budget == "infrastructure" else "ai_budget"


def _candidates(answers: Answers, plan: PricedPlan, rules: Rules, catalog: Catalog) -> Any:
    """Single-answer changes, least disruptive first: a cheaper engine or model, fewer users, one worker less."""
    if answers.cache_engine == "redis":
        yield "--cache-engine valkey", {"cache_engine": "valkey"}
    for use in sorted(plan.sizing.ai, key=lambda u: -plan.cost(f"ai_{u.use}_input", f"ai_{u.use}_output")[1]):
        current = _model_rate(catalog, use.model)
        # The closest cheaper model first: the smallest step down that fits.
        cheaper = sorted(
            (
                (_model_rate(catalog, name), name)
                for name in catalog.available_models(rules.model_uses[use.use].needs)
                if _model_rate(catalog, name) < current
            ),
            reverse=True,
        )
        for _, name in cheaper:
            yield f"--{use.use}-model {name}", {f"{use.use}_model": name}
    fewer = _most_users_that_fit(answers, rules, catalog)
    if fewer:
        yield f"--users {fewer}", {"users": fewer}
    if len(answers.workers) > 1:
        for worker in sorted(answers.workers, key=lambda w: -_worker_cost(plan, w)):
            yield f"drop the {worker} worker", {"workers": tuple(w for w in answers.workers if w != worker)}


def _model_rate(catalog: Catalog, model: str) -> float:
    price = catalog.models[model]
    return price.input.usd + price.output.usd


def _worker_cost(plan: PricedPlan, worker: str) -> float:
    return sum(plan.cost(f"ai_{u.use}_input", f"ai_{u.use}_output")[1] for u in plan.sizing.ai if u.worker == worker)


def _most_users_that_fit(answers: Answers, rules: Rules, catalog: Catalog) -> int | None:
    """Cost never falls as users grow, so a binary search finds the largest count that fits."""

    def fits(users: int) -> bool:
        return not price_plan(answers.model_copy(update={"users": users}), catalog, rules).totals.over()

    if not fits(1):
        return None
    low, high = 1, answers.users - 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low
