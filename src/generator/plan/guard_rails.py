"""Budget alerts and CloudWatch alarms, with thresholds computed from the plan."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.budget import NON_AWS_SERVICES, aws_budget_limit
from generator.plan.core import PricedPlan
from generator.plan.rules import Rules
from generator.plan.sizing import DAYS_PER_MONTH

GIB = 1024**3
# RDS PostgreSQL's default max_connections is LEAST(DBInstanceClassMemory / 9531392, 5000).
RDS_BYTES_PER_CONNECTION = 9_531_392


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

    aws_budget_limit: float
    # The AWS lines of the infrastructure budget at their high estimate: what the AWS budget must hold.
    aws_estimate_high: float
    budget_alert_thresholds: tuple[int, ...]
    alert_email: str
    alarms: tuple[Alarm, ...]


def guard_rails(answers: Answers, plan: PricedPlan, rules: Rules) -> GuardRails:
    sizing = plan.sizing
    scale = {
        "storage_bytes": sizing.rds.allocated_storage_gb * GIB,
        "max_connections": min(5000, int(sizing.rds.memory_gib * GIB // RDS_BYTES_PER_CONNECTION)),
        "timeout_ms": sizing.workers_lambda.timeout_seconds * 1000,
        "nat_bytes_day": max(1.0, sizing.compute.nat_gb.high / DAYS_PER_MONTH) * GIB / sizing.network.nat_gateways,
    }
    alarms = tuple(
        Alarm(
            id=a.id,
            namespace=a.namespace,
            metric=a.metric,
            statistic=a.statistic,
            comparison=a.comparison,
            threshold=round(a.threshold * scale[a.of], 0) if a.of else a.threshold,
            period_seconds=a.period_seconds,
            per_nat_gateway=a.per_nat_gateway,
            why=a.why,
        )
        for a in rules.alarms
    )
    return GuardRails(
        aws_budget_limit=aws_budget_limit(answers, list(plan.lines)),
        aws_estimate_high=round(
            sum(
                line.cost_high
                for line in plan.lines
                if line.budget == "infrastructure" and line.service not in NON_AWS_SERVICES
            ),
            2,
        ),
        budget_alert_thresholds=answers.budget_alert_thresholds,
        alert_email=answers.alert_email,
        alarms=alarms,
    )
