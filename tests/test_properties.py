"""Properties of every plan the answers model allows (hypothesis)."""

from __future__ import annotations

import math

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
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(answers_strategy, st.integers(1, 100_000))
def test_cost_never_decreases_as_users_grow(answers: Answers, other: int) -> None:
    fewer, more = sorted((answers.users, other))
    a = price_plan(answers.model_copy(update={"users": fewer})).totals
    b = price_plan(answers.model_copy(update={"users": more})).totals
    for budget in ("infrastructure", "ai"):
        assert getattr(b, budget).low >= getattr(a, budget).low - 0.01
        assert getattr(b, budget).high >= getattr(a, budget).high - 0.01


@FAST
@given(answers_strategy)
def test_no_negative_or_nan_figure_and_cost_is_quantity_times_price(answers: Answers) -> None:
    plan = price_plan(answers)
    for line in plan.lines:
        for value in (line.quantity_low, line.quantity_high, line.unit_price, line.cost_low, line.cost_high):
            assert math.isfinite(value) and value >= 0
        assert line.quantity_low <= line.quantity_high
        assert math.isclose(line.cost_low, line.quantity_low * line.unit_price, abs_tol=1e-4)
        assert math.isclose(line.cost_high, line.quantity_high * line.unit_price, abs_tol=1e-4)
        assert line.sources and line.source_urls and line.as_of


@FAST
@given(answers_strategy)
def test_verdict_agrees_with_totals(answers: Answers) -> None:
    totals = price_plan(answers).totals
    for total in (totals.infrastructure, totals.ai):
        assert total.low <= total.high
        assert math.isclose(total.headroom_high, total.limit - total.high, abs_tol=0.011)
        if total.low > total.limit:
            assert total.verdict == "over"
        elif total.high > 0.8 * total.limit:
            assert total.verdict == "tight"
        else:
            assert total.verdict == "fits"
    worst = "over" if "over" in (totals.infrastructure.verdict, totals.ai.verdict) else None
    assert worst is None or totals.verdict == "over"


@settings(max_examples=15, deadline=None)
@given(answers_strategy)
def test_advice_is_given_exactly_when_over_and_its_change_fits(answers: Answers) -> None:
    plan = build_plan(answers)
    over_capacity = any(answers.users > c.max_users for c in plan.capacity.values())
    assert (plan.advice is not None) == (plan.totals.verdict == "over" or over_capacity)
    if plan.advice and plan.advice.change_answers:
        changed = price_plan(answers.model_copy(update=plan.advice.change_answers))
        assert changed.totals.verdict != "over"
    if plan.advice:
        raised = answers.model_copy(update=plan.advice.raise_budgets)
        assert price_plan(raised).totals.verdict != "over"
