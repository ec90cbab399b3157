"""The priced core of a plan: sizing, budget lines, totals and capacity for one set of answers."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.budget import Line, Totals, budget_lines, totals_for
from generator.plan.capacity import WorkerCapacity, capacity
from generator.plan.catalog import Catalog, load_catalog
from generator.plan.rules import Rules, load_rules
from generator.plan.sizing import Sizing, size


class PricedPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sizing: Sizing
    lines: tuple[Line, ...]
    totals: Totals
    capacity: dict[str, WorkerCapacity]

    def over_capacity(self, users: int) -> dict[str, WorkerCapacity]:
        return {worker: c for worker, c in self.capacity.items() if users > c.max_users}

    def cost(self, *line_ids: str) -> tuple[Decimal, Decimal]:
        """The sum of these lines as shown (each already rounded to the cent)."""
        chosen = [line for line in self.lines if line.id in line_ids]
        return sum((x.cost_low for x in chosen), Decimal(0)), sum((x.cost_high for x in chosen), Decimal(0))

    def service_cost(self, service: str) -> tuple[Decimal, Decimal]:
        return self.cost(*(line.id for line in self.lines if line.service == service))


def price_plan(answers: Answers, catalog: Catalog | None = None, rules: Rules | None = None) -> PricedPlan:
    catalog = catalog or load_catalog()
    rules = rules or load_rules()
    sizing = size(answers, rules, catalog)
    lines = budget_lines(answers, sizing, catalog, rules)
    return PricedPlan(
        sizing=sizing,
        lines=tuple(lines),
        totals=totals_for(answers, lines, rules),
        capacity=capacity(answers.users, answers.usage, sizing, rules),
    )
