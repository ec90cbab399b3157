"""The scaling table: the user's count and steps up to ten times it."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import MAX_USERS, Answers
from generator.plan.budget import Verdict
from generator.plan.core import price_plan
from generator.plan.rules import Rules
from generator.plan.sizing import sizing_changes


class ScalingRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    users: int
    tier: str
    rds: str
    cache: str
    nat_gateways: int
    # The QStash plan that holds the high estimate, and the one that bills the low estimate.
    qstash_plan: str
    qstash_plan_low: str
    # The totals of the plan at this many users (exact, sums of cent-rounded lines).
    infrastructure_low: Decimal
    infrastructure_high: Decimal
    ai_low: Decimal
    ai_high: Decimal
    infrastructure_verdict: Verdict
    ai_verdict: Verdict
    # The workers that could not serve this many users (the plan would refuse it).
    over_capacity: tuple[str, ...]
    # The component steps between the previous row's user count and this one (rules.yaml `sizing`), in words.
    changes: tuple[str, ...]


def scaling_table(answers: Answers, rules: Rules) -> list[ScalingRow]:
    counts = sorted({min(MAX_USERS, answers.users * m) for m in rules.constants.scaling_multipliers})
    rows = []
    for previous, users in zip([0, *counts], counts, strict=False):
        plan = price_plan(answers.model_copy(update={"users": users}))
        s, t = plan.sizing, plan.totals
        rows.append(
            ScalingRow(
                users=users,
                tier=s.tier.name,
                rds=s.rds.instance_class + (" Multi-AZ" if s.rds.multi_az else ""),
                cache=f"{s.cache.node_type} x {s.cache.nodes}",
                nat_gateways=s.network.nat_gateways,
                qstash_plan=s.qstash.plan,
                qstash_plan_low=s.qstash.plan_low,
                infrastructure_low=t.infrastructure.low,
                infrastructure_high=t.infrastructure.high,
                ai_low=t.ai.low,
                ai_high=t.ai.high,
                infrastructure_verdict=t.infrastructure.verdict,
                ai_verdict=t.ai.verdict,
                over_capacity=tuple(plan.over_capacity(users)),
                changes=tuple(c.describe() for c in sizing_changes(rules, previous, users)) if previous else (),
            )
        )
    return rows
