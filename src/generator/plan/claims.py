"""The reference document's figures checked against the catalog.

Each claim is priced for the reference scenario (its 50 users, four workers and models) in the user's
region. Every claim is a row in every region: the figures are regional and the verdict says whether the
claim holds there; a row whose figure cannot be priced in a region says so in its note instead of vanishing.
Money is Decimal, each figure rounded to the cent once.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import ALLOW_RETIRED_MODELS, Answers
from generator.plan.budget import cents, exact
from generator.plan.catalog import Catalog
from generator.plan.comparison import CostPart, before_architecture, hosting_comparison
from generator.plan.core import PricedPlan, price_plan
from generator.plan.rules import ClaimDef, Rules
from generator.plan.sizing import HOURS_PER_MONTH
from generator.reports.formatting import money_range

# A single-figure claim ("~$10") is read as that figure +/- 10%.
POINT_TOLERANCE = Decimal("0.10")
HOURS = Decimal(HOURS_PER_MONTH)


class Correction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    claim: str
    claimed_low: Decimal | None
    claimed_high: Decimal | None
    ours_low: Decimal | None
    ours_high: Decimal | None
    # holds, too high or too low for a priced figure (the claim against ours); the claim's own verdict
    # (rules.yaml) for one that is not a figure; "cannot apply" when the region cannot price it; "retired"
    # for a model the reference chose that Microsoft has retired.
    verdict: str
    reason: str
    note: str | None = None
    # The catalog sources of prices used only by this row (the plan's own lines cite theirs).
    sources: tuple[str, ...] = ()


Amounts = tuple[Decimal, Decimal]
Metric = Callable[[PricedPlan, Answers, Catalog, Rules], Amounts]


def _hosting(option: str) -> Metric:
    def metric(plan: PricedPlan, answers: Answers, catalog: Catalog, rules: Rules) -> Amounts:
        chosen = next(o for o in hosting_comparison(answers, plan, catalog) if o.id == option)
        return chosen.monthly_low, chosen.monthly_high

    return metric


def _cache_small(plan: PricedPlan, answers: Answers, catalog: Catalog, rules: Rules) -> Amounts:
    node = "cache.t4g.small"
    valkey = catalog.price(f"cache.node.valkey.{node}", answers.aws_region).cost(HOURS)
    redis = catalog.price(f"cache.node.redis.{node}", answers.aws_region).cost(HOURS)
    return cents(valkey), cents(redis)


def _multi_az_delta(plan: PricedPlan, answers: Answers, catalog: Catalog, rules: Rules) -> Amounts:
    rds = plan.sizing.rds
    instance = catalog.price(f"rds.instance.{rds.instance_class}", answers.aws_region).cost(HOURS)
    storage = catalog.price("rds.storage.gp3", answers.aws_region).cost(Decimal(rds.allocated_storage_gb))
    return cents(instance + storage), cents(instance + storage)


def _infrastructure(plan: PricedPlan, answers: Answers, catalog: Catalog, rules: Rules) -> Amounts:
    return plan.totals.infrastructure.low, plan.totals.infrastructure.high


def _before(plan: PricedPlan, answers: Answers, catalog: Catalog, rules: Rules) -> Amounts:
    before = before_architecture(answers, plan, catalog, rules)
    return before.monthly_low, before.monthly_high


METRICS: dict[str, Metric] = {
    "vercel": lambda p, a, c, r: p.service_cost("Vercel"),
    "rds_small_single_az": lambda p, a, c, r: p.service_cost("RDS PostgreSQL"),
    "cache_small_one_node": _cache_small,
    "s3": lambda p, a, c, r: p.cost("s3_storage", "s3_put", "s3_get", "data_transfer"),
    "cron_lambda": lambda p, a, c, r: p.service_cost("Lambda (cron)"),
    "qstash": lambda p, a, c, r: p.service_cost("Upstash QStash"),
    "hosting_fargate": _hosting("ecs_fargate"),
    "hosting_ec2_spot": _hosting("ec2_spot"),
    "hosting_lambda": _hosting("lambda"),
    "model_alerts": lambda p, a, c, r: p.cost("ai_alerts_input", "ai_alerts_output"),
    "multi_az_delta": _multi_az_delta,
    "nat_two_gateways": lambda p, a, c, r: p.service_cost("NAT gateway"),
    "infrastructure_total": _infrastructure,
    "before_architecture": _before,
}


def reference_answers(region: str, rules: Rules) -> Answers:
    """The reference document's scenario in `region`, with the models it chose (retired ones included)."""
    models = {f"{use}_model": spec.reference for use, spec in rules.model_uses.items()}
    return Answers.model_validate({"aws_region": region, **models}, context={ALLOW_RETIRED_MODELS: True})


def corrections(answers: Answers, rules: Rules, catalog: Catalog) -> list[Correction]:
    """Every claim of the reference, in the same order in every region, then its retired model choices."""
    reference = reference_answers(answers.aws_region, rules)
    plan = price_plan(reference, catalog, rules)
    rows = [_check(claim, plan, reference, catalog, rules) for claim in rules.claims]
    return rows + _model_choices(answers, rules, catalog)


def _check(claim: ClaimDef, plan: PricedPlan, reference: Answers, catalog: Catalog, rules: Rules) -> Correction:
    if claim.metric is None:
        assert claim.verdict is not None  # checked at load: a claim without a figure carries its verdict
        return _correction(claim, None, claim.verdict)
    metric = METRICS[claim.metric]
    try:
        ours = metric(plan, reference, catalog, rules)
    except KeyError as missing:
        # A price the region has no quote for and no derivation: the row stays, saying why it is empty.
        note = f"cannot be priced in {reference.aws_region}: no {missing.args[0]} price there"
        return _correction(claim, None, "cannot apply", note)
    verdict = claim.verdict or _compare(claim, ours)
    if claim.metric != "before_architecture":
        return _correction(claim, ours, verdict)
    before = before_architecture(reference, plan, catalog, rules)
    reason = f"{_before_reason(claim, plan, before.parts, ours)} Sources: {', '.join(before.sources)}."
    return _correction(claim, ours, verdict, reason=reason).model_copy(update={"sources": before.sources})


def _before_reason(claim: ClaimDef, plan: PricedPlan, parts: tuple[CostPart, ...], ours: Amounts) -> str:
    """The "before" architecture's breakdown and what the seed's figure gets wrong, in words."""
    breakdown = "; ".join(f"{p.name} {money_range(p.monthly_low, p.monthly_high)}" for p in parts)
    now_low, now_high = plan.totals.infrastructure.low, plan.totals.infrastructure.high
    assert claim.claimed is not None  # a priced figure
    claimed_low, claimed_high = (exact(v) for v in claim.claimed)
    verdict = _compare(claim, ours)
    if verdict == "too high":
        judged = (
            f"The seed's {money_range(claimed_low, claimed_high)} overstates it "
            f"{claimed_low / ours[1]:.1f}x to {claimed_high / ours[0]:.1f}x"
        )
    elif verdict == "too low":
        judged = f"The seed's {money_range(claimed_low, claimed_high)} understates it"
    else:
        judged = f"The seed's {money_range(claimed_low, claimed_high)} holds"
    return (
        f"{claim.reason} {breakdown}. {judged}. The rendered stack costs {money_range(now_low, now_high)} for the "
        f"same workload: {money_range(ours[0] - now_low, ours[1] - now_high)} a month less "
        f"({1 - now_low / ours[0]:.0%} and {1 - now_high / ours[1]:.0%} less at the low and high estimates)."
    )


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
                verdict="retired",
                reason=(
                    f"{spec.reference} was {lifecycle.describe()} (Microsoft's retirement schedule, checked "
                    f"{lifecycle.checked}). {chosen} {ours} ({catalog.models[ours].lifecycle.describe()})."
                ),
            )
        )
    return found


def _compare(claim: ClaimDef, ours: Amounts) -> str:
    """holds when the ranges overlap; too high when the claim is above ours, too low when below."""
    assert claim.claimed is not None
    low, high = (exact(v) for v in claim.claimed)
    if low == high:
        low, high = low * (1 - POINT_TOLERANCE), high * (1 + POINT_TOLERANCE)
    if ours[1] < low:
        return "too high"
    if ours[0] > high:
        return "too low"
    return "holds"


def _correction(
    claim: ClaimDef, ours: Amounts | None, verdict: str, note: str | None = None, reason: str | None = None
) -> Correction:
    return Correction(
        id=claim.id,
        claim=claim.claim,
        claimed_low=cents(exact(claim.claimed[0])) if claim.claimed else None,
        claimed_high=cents(exact(claim.claimed[1])) if claim.claimed else None,
        ours_low=cents(ours[0]) if ours else None,
        ours_high=cents(ours[1]) if ours else None,
        verdict=verdict,
        reason=reason or claim.reason,
        note=note,
    )
