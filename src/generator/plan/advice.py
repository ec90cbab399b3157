"""Why a plan is refused or at risk, and what to change: over budget (even the low estimate exceeds it), at
risk (only the high estimate does), or over a worker's capacity. For a budget, the advice is the cheapest
single change, priced again, that brings the HIGH estimate within every budget (or, when none does, one that
brings the low estimate within it, saying so), and the budget raise that holds the high estimate.

The one place that decides: a plan whose advice `refuses` (over budget or over capacity) is refused by
`betagen estimate` (exit 3), `betagen new` and `update`, and copier's context hook; a plan only at risk is
rendered, and `betagen estimate`, `new` and `update` exit 5 with the advice on stderr."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import MAX_USERS, SCHEDULE_MINUTES, Answers
from generator.plan.budget import BudgetTotal, Totals
from generator.plan.capacity import WorkerCapacity, capacity, rollup_capacity, worker_capacity
from generator.plan.catalog import Catalog
from generator.plan.core import PricedPlan, price_plan
from generator.plan.limits import message_deadline_seconds
from generator.plan.rules import Rules
from generator.plan.sizing import size
from generator.reports.formatting import money


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

    # Budgets even the low estimate exceeds (the plan is refused).
    overruns: tuple[str, ...]
    change: str | None
    change_answers: dict[str, Any] | None
    raise_budgets: dict[str, int]
    capacity: tuple[CapacityOverrun, ...] = ()
    # Budgets only the high estimate exceeds (the plan is rendered, with this advice).
    at_risk: tuple[str, ...] = ()
    # Whether `change` brings the high estimate within every budget (False: only the low one).
    change_fits_high: bool = True

    @property
    def refuses(self) -> bool:
        return advice_refuses(self.model_dump())

    def one_line(self, syntax: str = "estimate") -> str:
        return advice_line(self.model_dump(), syntax)


def advice_refuses(advice: Mapping[str, Any] | None) -> bool:
    """Whether advice (its JSON form too, from any engine version) refuses the plan: over budget or over
    capacity. Advice only at risk does not."""
    return bool(advice and (advice.get("overruns") or advice.get("capacity")))


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
    parts = [_budget_text(advice, syntax)] if advice.get("overruns") or advice.get("at_risk") else []
    parts += [_capacity_text(overrun, syntax) for overrun in advice.get("capacity") or ()]
    return "; ".join(parts)


def _budget_text(advice: Mapping[str, Any], syntax: str) -> str:
    found = []
    if advice.get("overruns"):
        found.append("over budget: " + "; ".join(advice["overruns"]))
    if advice.get("at_risk"):
        found.append("at risk: " + "; ".join(advice["at_risk"]))
    text = "; ".join(found)
    raises = " and ".join(answer_option(k, v, syntax) for k, v in advice["raise_budgets"].items())
    change = advice.get("change")
    if not change:
        return f"{text}. Raise {raises} to fit the high estimate"
    options = " ".join(answer_option(k, v, syntax) for k, v in (advice.get("change_answers") or {}).items())
    if change.startswith("--"):  # the label is estimate's own flag: say it the way the command in use takes it
        change = options or change
    elif options:
        change = f"{change} ({options})"
    if advice.get("change_fits_high", True):
        return f"{text}. Cheapest change that fits the high estimate: {change} (or raise {raises})"
    return (
        f"{text}. No single change fits the high estimate; cheapest that fits the low one: {change}, after which "
        f"only the low estimate fits (raise {raises} to fit the high one)"
    )


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


# Which estimate a change must bring within the budgets.
Fits = Callable[[Totals], bool]


def _high_fits(totals: Totals) -> bool:
    return totals.high_fits()


def _low_fits(totals: Totals) -> bool:
    return not totals.over()


def advise(answers: Answers, plan: PricedPlan, rules: Rules, catalog: Catalog) -> Advice | None:
    over, risky = plan.totals.over(), plan.totals.at_risk()
    over_capacity = _capacity_overruns(answers, plan, rules, catalog)
    if not over and not risky:
        if not over_capacity:
            return None
        return Advice(overruns=(), change=None, change_answers=None, raise_budgets={}, capacity=over_capacity)
    found: dict[str, Any] = {
        "overruns": tuple(_overrun(t) for t in over),
        "at_risk": tuple(_risk(t) for t in risky),
        "raise_budgets": {_budget_field(t.budget): math.ceil(t.high) for t in (*over, *risky)},
        "capacity": over_capacity,
    }
    # Every change is priced again: it must bring the high estimate within every budget. Only when none does
    # (and the plan is refused) is a change that fits the low estimate offered, saying only the low one fits.
    for fits in (_high_fits, _low_fits) if over else (_high_fits,):
        for label, update in _candidates(answers, plan, rules, catalog, fits):
            if fits(price_plan(answers.model_copy(update=update), catalog, rules).totals):
                return Advice(**found, change=label, change_answers=update, change_fits_high=fits is _high_fits)
    return Advice(**found, change=None, change_answers=None)


def _overrun(total: BudgetTotal) -> str:
    return (
        f"{total.budget} {money(total.low)}/month exceeds the {_budget_field(total.budget)} of "
        f"{money(total.limit)} by {money(total.low - total.limit)}"
    )


def _risk(total: BudgetTotal) -> str:
    return (
        f"{total.budget} {money(total.low)}-{money(total.high)}/month: the high estimate exceeds the "
        f"{_budget_field(total.budget)} of {money(total.limit)} by {money(total.high - total.limit)} "
        "(only the low one fits)"
    )


# What bounds a worker's capacity, as the refusal names it.
LIMITING = {
    "parallelism": "QStash flow-control parallelism",
    "database_connections": "database connections",
    "message_deadline": "message deadline",
    "schedule_period": "schedule period",
    "rollup_throughput": "the roll-up's throughput within its message deadline",
    "one_message_run": "its one message a run (a custom cron worker without a model is not fanned out)",
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
    """The change that lifts a worker's limit: the shortest longer schedule that serves the users (a cron
    worker's answer); else what the stack would need: the model latency (when one unit's calls do not fit a
    message), the messages in flight and the database connections for them (fan-out chunks, uploads), or the
    workers' timeout that gives the roll-up the deadline it needs."""
    usage, figures = answers.usage, cap.figures
    if cap.limiting == "message_deadline" and figures["model_calls_per_unit"]:
        p95 = (figures["message_deadline_seconds"] - usage.job_base_seconds) / figures["model_calls_per_unit"]
        return f"a model answering within {p95:g} s at p95 (usage model_latency_p95_seconds)", None
    if cap.limiting == "one_message_run":
        return "fewer calls per user a run (its calls_per_user_per_month), a faster model, or fan-out", None
    spec = rules.workers.get(worker)  # None: a custom worker (its schedule is its own answer)
    field = spec.schedule_field if spec else None
    if field is not None:
        current = int(getattr(usage, field))
        for minutes in SCHEDULE_MINUTES:
            if minutes > current and _capacity_every(worker, minutes, answers, plan, rules) >= answers.users:
                overrides = usage.model_dump(mode="json", exclude_defaults=True)
                return None, {"usage": {**overrides, field: minutes}}
    if cap.limiting == "rollup_throughput":
        return _rollup_lift(figures, answers.users, rules), None
    if cap.limiting in ("parallelism", "database_connections") and cap.max_users:
        return _in_flight_lift(figures, cap.max_users, answers.users), None
    return None, None


def _capacity_every(worker: str, minutes: int, answers: Answers, plan: PricedPlan, rules: Rules) -> int:
    """A cron worker's max_users were it to run every `minutes`."""
    usage, sizing = answers.usage, plan.sizing
    if sizing.worker_limits[worker].chunk_size is not None:
        return worker_capacity(worker, answers.users, minutes, usage, sizing, rules).max_users
    return rollup_capacity(worker, answers.users, minutes, usage, sizing, rules).max_users


def _in_flight_lift(figures: Mapping[str, float], max_users: int, users: int) -> str:
    """The messages in flight (reserved concurrency, and a database connection each) that serve `users`:
    capacity grows in proportion to them."""
    needed = math.ceil(figures["concurrent_messages"] * users / max_users)
    wants = []
    if needed > figures["parallelism"]:
        wants.append(
            f"{needed:,} messages in flight (the workers' reserved concurrency, rules.yaml "
            f"sizing.reserved_concurrency: {figures['parallelism']:,.0f} at this count)"
        )
    connections = needed * int(figures["db_connections_per_message"])
    if connections > figures["db_connections_for_workers"]:
        wants.append(
            f"a database class with {connections:,} connections for the workers (rules.yaml sizing.database: "
            f"{figures['db_connections_for_workers']:,.0f} at this count)"
        )
    return " and ".join(wants)


def _rollup_lift(figures: Mapping[str, float], users: int, rules: Rules) -> str:
    """The workers' timeout whose message deadline holds the roll-up of `users`, when Lambda allows it."""
    const = rules.constants
    seconds = (
        figures["job_base_seconds"] + users * figures["events_per_user_per_run"] / figures["rollup_events_per_second"]
    )
    timeout = math.ceil(seconds / const.message_deadline_ratio)
    while message_deadline_seconds(timeout, rules) < seconds:  # the deadline is rounded down to whole seconds
        timeout += 1
    if timeout <= const.lambda_max_timeout_seconds:
        return (
            f"a workers' timeout of {timeout:,} s (rules.yaml constants.worker_timeout_seconds, now "
            f"{figures['lambda_timeout_seconds']:,.0f} s; Lambda allows {const.lambda_max_timeout_seconds:,}): "
            f"the roll-up of {users * figures['events_per_user_per_run']:,.0f} events takes {seconds:,.0f} s"
        )
    return (
        f"a roll-up split across messages: {users * figures['events_per_user_per_run']:,.0f} events take "
        f"{seconds:,.0f} s, past the message deadline of Lambda's longest timeout "
        f"({const.lambda_max_timeout_seconds:,} s)"
    )


def _most_users_within_capacity(answers: Answers, rules: Rules, catalog: Catalog) -> int | None:
    """The most users below the answer that every worker serves. Between two sizing steps a worker's capacity
    does not depend on the user count (the steps set parallelism and the database), so one look per span
    suffices."""
    starts = [1, *rules.sizing.breakpoints()]
    ends = [start - 1 for start in starts[1:]] + [MAX_USERS]
    for floor, end in reversed(list(zip(starts, ends, strict=True))):
        top = min(end, answers.users - 1)
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


def _candidates(
    answers: Answers, plan: PricedPlan, rules: Rules, catalog: Catalog, fits: Fits
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Single-answer changes, least disruptive first: a cheaper engine or model, fewer users, one worker less
    (the fewest users searched for are the most whose estimate `fits`)."""
    if answers.cache_engine == "redis":
        yield "--cache-engine valkey", {"cache_engine": "valkey"}
    # A custom worker's model is an item of a list answer: not offered as a one-answer change.
    uses = [u for u in plan.sizing.ai if not u.custom]
    for use in sorted(uses, key=lambda u: -plan.cost(f"ai_{u.use}_input", f"ai_{u.use}_output")[1]):
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
    fewer = _most_users_that_fit(answers, rules, catalog, fits)
    if fewer:
        yield f"--users {fewer}", {"users": fewer}
    if len(answers.workers) > 1:
        for worker in sorted(answers.workers, key=lambda w: -_worker_cost(plan, w)):
            yield f"drop the {worker} worker", {"workers": tuple(w for w in answers.workers if w != worker)}


def _model_rate(catalog: Catalog, model: str) -> float:
    price = catalog.models[model]
    return float(price.input.usd + price.output.usd)


def _worker_cost(plan: PricedPlan, worker: str) -> Decimal:
    return sum(
        (plan.cost(f"ai_{u.use}_input", f"ai_{u.use}_output")[1] for u in plan.sizing.ai if u.worker == worker),
        Decimal(0),
    )


def _most_users_that_fit(answers: Answers, rules: Rules, catalog: Catalog, fits: Fits) -> int | None:
    """Cost never falls as users grow, so a binary search finds the largest count that fits."""

    def fits_users(users: int) -> bool:
        return fits(price_plan(answers.model_copy(update={"users": users}), catalog, rules).totals)

    if answers.users <= 1 or not fits_users(1):
        return None
    low, high = 1, answers.users - 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits_users(mid) else (low, mid - 1)
    return low
