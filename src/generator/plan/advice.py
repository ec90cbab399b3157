"""What to change when a plan is over budget: the smallest single change that fits, and the budget raise."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog
from generator.plan.core import PricedPlan, price_plan
from generator.plan.rules import Rules


class Advice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    overruns: tuple[str, ...]
    change: str | None
    change_answers: dict[str, Any] | None
    raise_budgets: dict[str, int]

    def one_line(self, syntax: str = "estimate") -> str:
        return advice_line(self.model_dump(), syntax)


# How each command takes an answer: the advice names the change in the syntax of the command in use.
ANSWER_SYNTAXES = ("estimate", "set", "copier")


def answer_option(key: str, value: Any, syntax: str = "estimate") -> str:
    """One answer as a command takes it: `--users 500` (betagen estimate), `--set users=500` (betagen new
    and update), `-d users=500` (copier)."""
    if isinstance(value, list | tuple):
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
    """The advice as one line, from its JSON form too (`betagen update` phrases another version's advice)."""
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


def advise(answers: Answers, plan: PricedPlan, rules: Rules, catalog: Catalog) -> Advice | None:
    over = plan.totals.over()
    if not over:
        return None
    overruns = tuple(
        f"{t.budget} ${t.low:,.2f}/month exceeds the {_budget_field(t.budget)} of ${t.limit:,.2f} "
        f"by ${t.low - t.limit:,.2f}"
        for t in over
    )
    raises = {_budget_field(t.budget): math.ceil(t.high) for t in over}
    for label, update in _candidates(answers, plan, rules, catalog):
        if not price_plan(answers.model_copy(update=update), catalog, rules).totals.over():
            return Advice(overruns=overruns, change=label, change_answers=update, raise_budgets=raises)
    return Advice(overruns=overruns, change=None, change_answers=None, raise_budgets=raises)


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
