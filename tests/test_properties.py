"""Properties of every plan the answers model allows (hypothesis)."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.plan.answers import WORKERS, Answers
from generator.plan.catalog import load_catalog
from generator.plan.core import price_plan
from generator.plan.plan import build_plan

REGIONS = load_catalog().regions

answers_strategy = st.builds(
    Answers,
    aws_region=st.sampled_from(REGIONS),
    users=st.integers(1, 100_000),
    aws_budget=st.floats(1, 50_000, allow_nan=False),
    ai_budget=st.floats(0, 200_000, allow_nan=False),
    workers=st.sets(st.sampled_from(WORKERS), min_size=1).map(tuple),
    cache_engine=st.sampled_from(["valkey", "redis"]),
    trends_model=st.sampled_from(load_catalog().available_models(("text",))),
)
CENT = Decimal("0.01")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(answers_strategy, st.integers(1, 100_000))
def test_cost_never_decreases_as_users_grow(answers: Answers, other: int) -> None:
    fewer, more = sorted((answers.users, other))
    a = price_plan(answers.model_copy(update={"users": fewer})).totals
    b = price_plan(answers.model_copy(update={"users": more})).totals
    for budget in ("infrastructure", "ai"):
        assert getattr(b, budget).low >= getattr(a, budget).low - CENT
        assert getattr(b, budget).high >= getattr(a, budget).high - CENT


@FAST
@given(answers_strategy)
def test_no_negative_or_nan_figure_and_cost_is_quantity_times_price(answers: Answers) -> None:
    plan = price_plan(answers)
    for line in plan.lines:
        for value in (line.quantity_low, line.quantity_high, line.unit_price, line.cost_low, line.cost_high):
            assert math.isfinite(value) and value >= 0
        # A line whose low estimate is billed on another price (a cheaper QStash plan) counts it in that unit.
        assert line.low_price is not None or line.quantity_low <= line.quantity_high
        assert line.cost_low <= line.cost_high
        # Each cost is a whole number of cents, within half a cent of the quantity at the unit price.
        for cost in (line.cost_low, line.cost_high):
            assert cost == cost.quantize(CENT)
        region = "global" if line.budget == "ai" else answers.aws_region
        flat = line.budget == "ai" or not load_catalog().price(line.price_id, region).tiers
        if line.low_price is None and flat:  # tiered prices: test_catalog
            assert abs(line.cost_high - Decimal(repr(line.quantity_high)) * line.unit_price) <= CENT / 2
        assert line.sources and line.source_urls and line.as_of


@FAST
@given(answers_strategy)
def test_verdict_agrees_with_totals(answers: Answers) -> None:
    totals = price_plan(answers).totals
    for total in (totals.infrastructure, totals.ai):
        assert total.low <= total.high
        assert total.headroom_high == total.limit - total.high
        if total.low > total.limit:
            assert total.verdict == "over"
        elif total.high > total.limit:
            assert total.verdict == "at risk"
        elif total.high > Decimal("0.8") * total.limit:
            assert total.verdict == "tight"
        else:
            assert total.verdict == "fits"
    order = ["fits", "tight", "at risk", "over"]
    assert totals.verdict == max(totals.infrastructure.verdict, totals.ai.verdict, key=order.index)


@settings(max_examples=15, deadline=None)
@given(answers_strategy)
def test_advice_is_given_exactly_when_a_high_estimate_overruns_and_its_change_is_priced_again(
    answers: Answers,
) -> None:
    plan = build_plan(answers)
    over_capacity = any(answers.users > c.max_users for c in plan.capacity.values())
    overrun = plan.totals.verdict in ("over", "at risk")
    assert (plan.advice is not None) == (overrun or over_capacity)
    if plan.advice and plan.advice.change_answers and overrun:
        changed = price_plan(answers.model_copy(update=plan.advice.change_answers)).totals
        # The change brings the high estimate within every budget, or the advice says only the low one fits.
        assert changed.high_fits() if plan.advice.change_fits_high else not changed.over()
        assert plan.advice.change_fits_high or "only the low estimate fits" in plan.advice.one_line()
    if plan.advice:
        raised = answers.model_copy(update=plan.advice.raise_budgets)
        assert price_plan(raised).totals.high_fits()
        assert plan.advice.refuses == (plan.totals.verdict == "over" or over_capacity)
