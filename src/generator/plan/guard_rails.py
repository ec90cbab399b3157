"""Budget alerts and CloudWatch alarms, with thresholds computed from the plan."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.budget import aws_budget_limit, aws_lines_cost
from generator.plan.core import PricedPlan
from generator.plan.rules import AlarmDef, Rules
from generator.plan.sizing import DAYS_PER_MONTH

GIB = 1024**3


class Alarm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    period_seconds: int
    per_nat_gateway: bool
    why: str


class GuardRails(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Cents as plain numbers: AWS Budgets and infra/ops.json take them as such (computed exactly, in Decimal).
    aws_budget_limit: float
    # The AWS lines of the infrastructure budget at each estimate: the high one is what the AWS budget must hold;
    # a low one above it means the plan is over budget, a high one alone means it is at risk.
    aws_estimate_low: float
    aws_estimate_high: float
    budget_alert_thresholds: tuple[int, ...]
    alert_email: str
    alarms: tuple[Alarm, ...]


def _scale(of: str, floor: float | None, plan: PricedPlan) -> tuple[float, dict[str, float]]:
    """The plan quantity an alarm's threshold multiplies, and the figures its description states."""
    sizing = plan.sizing
    if of == "nat_bytes_day":
        high_gib_day = sizing.compute.nat_gb.high / DAYS_PER_MONTH
        floor_gib_day = floor or 0.0
        gateways = sizing.network.nat_gateways
        per_gateway = max(floor_gib_day, high_gib_day) / gateways
        return per_gateway * GIB, {"high_gib_day": high_gib_day, "floor_gib_day": floor_gib_day, "gateways": gateways}
    scale = {
        "storage_bytes": sizing.rds.allocated_storage_gb * GIB,
        "max_connections": sizing.rds.max_connections,
        "timeout_ms": sizing.workers_lambda.timeout_seconds * 1000,
    }
    return scale[of], {}


def _alarm(a: AlarmDef, plan: PricedPlan) -> Alarm:
    threshold = a.threshold
    figures: dict[str, float] = {}
    if a.of:
        quantity, figures = _scale(a.of, a.floor, plan)
        threshold = round(a.threshold * quantity, 0)
    # The description is filled from the values that set the threshold, so the two cannot disagree.
    why = a.why.format(multiple=a.threshold, threshold=threshold, threshold_gib=threshold / GIB, **figures)
    return Alarm(
        id=a.id,
        namespace=a.namespace,
        metric=a.metric,
        statistic=a.statistic,
        comparison=a.comparison,
        threshold=threshold,
        period_seconds=a.period_seconds,
        per_nat_gateway=a.per_nat_gateway,
        why=why,
    )


def guard_rails(answers: Answers, plan: PricedPlan, rules: Rules) -> GuardRails:
    alarms = tuple(_alarm(a, plan) for a in rules.alarms)
    return GuardRails(
        aws_budget_limit=float(aws_budget_limit(answers, list(plan.lines))),
        aws_estimate_low=float(aws_lines_cost(list(plan.lines), "low")),
        aws_estimate_high=float(aws_lines_cost(list(plan.lines), "high")),
        budget_alert_thresholds=answers.budget_alert_thresholds,
        alert_email=answers.alert_email,
        alarms=alarms,
    )
