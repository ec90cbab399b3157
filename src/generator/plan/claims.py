"""The reference document's figures checked against the catalog.

Each claim is priced for the reference scenario (its 50 users, four workers and models) in the user's
region, so a claim that holds in one region (RDS in APAC, say) is not reported as wrong there.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import ALLOW_RETIRED_MODELS, Answers
from generator.plan.catalog import Catalog
from generator.plan.comparison import hosting_comparison
from generator.plan.core import PricedPlan, price_plan
from generator.plan.rules import ClaimDef, Rules
from generator.plan.sizing import HOURS_PER_MONTH

# A single-figure claim ("~$10") is read as that figure +/- 10%.
POINT_TOLERANCE = 0.10


class Correction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    claim: str
    claimed_low: float | None
    claimed_high: float | None
    ours_low: float | None
    ours_high: float | None
    reason: str


Metric = Callable[[PricedPlan, Answers, Catalog], tuple[float, float]]


def _hosting(option: str) -> Metric:
    def metric(plan: PricedPlan, answers: Answers, catalog: Catalog) -> tuple[float, float]:
        chosen = next(o for o in hosting_comparison(answers, plan, catalog) if o.id == option)
        return chosen.monthly_low, chosen.monthly_high

    return metric


def _cache_small(plan: PricedPlan, answers: Answers, catalog: Catalog) -> tuple[float, float]:
    node = "cache.t4g.small"
    valkey = catalog.price(f"cache.node.valkey.{node}", answers.aws_region).usd * HOURS_PER_MONTH
    redis = catalog.price(f"cache.node.redis.{node}", answers.aws_region).usd * HOURS_PER_MONTH
    return valkey, redis


def _multi_az_delta(plan: PricedPlan, answers: Answers, catalog: Catalog) -> tuple[float, float]:
    rds = plan.sizing.rds
    instance = catalog.price(f"rds.instance.{rds.instance_class}", answers.aws_region).usd * HOURS_PER_MONTH
    storage = catalog.price("rds.storage.gp3", answers.aws_region).usd * rds.allocated_storage_gb
    return instance + storage, instance + storage


def _infrastructure(plan: PricedPlan, answers: Answers, catalog: Catalog) -> tuple[float, float]:
    return plan.totals.infrastructure.low, plan.totals.infrastructure.high


METRICS: dict[str, Metric] = {
    "vercel": lambda p, a, c: p.service_cost("Vercel"),
    "rds_small_single_az": lambda p, a, c: p.service_cost("RDS PostgreSQL"),
    "cache_small_one_node": _cache_small,
    "s3": lambda p, a, c: p.cost("s3_storage", "s3_put", "s3_get", "data_transfer"),
    "cron_lambda": lambda p, a, c: p.service_cost("Lambda (cron)"),
    "qstash": lambda p, a, c: p.service_cost("Upstash QStash"),
    "hosting_fargate": _hosting("ecs_fargate"),
    "hosting_ec2_spot": _hosting("ec2_spot"),
    "hosting_lambda": _hosting("lambda"),
    "model_alerts": lambda p, a, c: p.cost("ai_alerts_input", "ai_alerts_output"),
    "multi_az_delta": _multi_az_delta,
    "nat_two_gateways": lambda p, a, c: p.service_cost("NAT gateway"),
    "infrastructure_total": _infrastructure,
}


def reference_answers(region: str, rules: Rules) -> Answers:
    """The reference document's scenario in `region`, with the models it chose (retired ones included)."""
    models = {f"{use}_model": spec.reference for use, spec in rules.model_uses.items()}
    return Answers.model_validate({"aws_region": region, **models}, context={ALLOW_RETIRED_MODELS: True})


def corrections(answers: Answers, rules: Rules, catalog: Catalog) -> list[Correction]:
    reference = reference_answers(answers.aws_region, rules)
    plan = price_plan(reference, catalog, rules)
    found = []
    for claim in rules.claims:
        ours = METRICS[claim.metric](plan, reference, catalog) if claim.metric else None
        if claim.always or (ours is not None and _disagrees(claim, ours)):
            found.append(_correction(claim, ours))
    return found + _model_choices(answers, rules, catalog)


def _model_choices(answers: Answers, rules: Rules, catalog: Catalog) -> list[Correction]:
    """The reference's model per use, with its lifecycle stage and, when it is retired, what we use instead."""
    found = []
    for use, spec in rules.model_uses.items():
        lifecycle = catalog.models[spec.reference].lifecycle
        if not lifecycle.retired:
            continue
        ours = answers.model_for(use)
        chosen = "This plan uses" if spec.worker in answers.workers else "The answers' model for it is"
        found.append(
            Correction(
                id=f"model_{use}",
                claim=f"{spec.reference} for {rules.workers[spec.worker].title.lower()}",
                claimed_low=None,
                claimed_high=None,
                ours_low=None,
                ours_high=None,
                reason=(
                    f"{spec.reference} was {lifecycle.describe()} (Microsoft's retirement schedule, checked "
                    f"{lifecycle.checked}). {chosen} {ours} ({catalog.models[ours].lifecycle.describe()})."
                ),
            )
        )
    return found


def _disagrees(claim: ClaimDef, ours: tuple[float, float]) -> bool:
    assert claim.claimed is not None
    low, high = claim.claimed
    if low == high:
        low, high = low * (1 - POINT_TOLERANCE), high * (1 + POINT_TOLERANCE)
    return ours[1] < low or ours[0] > high


def _correction(claim: ClaimDef, ours: tuple[float, float] | None) -> Correction:
    return Correction(
        id=claim.id,
        claim=claim.claim,
        claimed_low=claim.claimed[0] if claim.claimed else None,
        claimed_high=claim.claimed[1] if claim.claimed else None,
        ours_low=round(ours[0], 2) if ours else None,
        ours_high=round(ours[1], 2) if ours else None,
        reason=claim.reason,
    )
