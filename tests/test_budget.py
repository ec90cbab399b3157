"""Budget lines, totals and verdicts; the reference scenario against an independent calculation."""

from __future__ import annotations

import pytest

from generator.plan.answers import Answers
from generator.plan.budget import verdict_for
from generator.plan.plan import Plan, build_plan

# Published unit prices (shared/reference/prices-2026.md), typed here independently of the catalog.
PUBLISHED = {
    "vercel_pro_seat": 20.0,
    "rds_t4g_small_hour": 0.032,
    "gp3_gb": 0.115,
    "valkey_t4g_small_hour": 0.0256,
    "s3_gb": 0.023,
    "nat_hour": 0.045,
    "nat_gb": 0.045,
    "ipv4_hour": 0.005,
    "secret": 0.40,
    "v3_2": (0.58, 1.68),
    "phi4mm": (0.08, 0.32),
}


def test_reference_has_every_line_of_the_reference_plus_the_architectures(reference_plan: Plan) -> None:
    items = " | ".join(f"{line.service} {line.item}" for line in reference_plan.lines)
    for expected in (
        "Vercel",
        "db.t4g.small",
        "cache.t4g.small",
        "Standard storage 150 GB",
        "Lambda (cron)",
        "Upstash QStash",
        "DeepSeek-V3.2",
        "Phi-4-multimodal-instruct",
        "NAT gateway",
        "Secrets Manager",
        "CloudWatch",
    ):
        assert expected in items, expected
    assert all(line.sources and line.source_urls and line.as_of for line in reference_plan.lines)


def test_reference_totals_match_an_independent_calculation(reference_plan: Plan) -> None:
    p, hours = PUBLISHED, 730
    infrastructure = (
        p["vercel_pro_seat"]
        + p["rds_t4g_small_hour"] * hours
        + p["gp3_gb"] * 20
        + p["valkey_t4g_small_hour"] * hours
        + p["s3_gb"] * 150
        + p["nat_hour"] * hours
        + p["nat_gb"] * 2.5
        + p["ipv4_hour"] * hours
        + p["secret"] * 2
    )
    # Trends and video at 10M input + 5M output tokens, alerts at a quarter of that (the reference's volumes).
    trends, video, alerts = p["v3_2"], p["phi4mm"], p["v3_2"]
    ai = sum(inp * 10 + out * 5 for inp, out in (trends, video)) + alerts[0] * 2.5 + alerts[1] * 1.25
    assert reference_plan.totals.infrastructure.low == pytest.approx(infrastructure, rel=0.05)
    assert reference_plan.totals.ai.low == pytest.approx(ai, abs=0.01)
    assert reference_plan.totals.ai.low == pytest.approx(20.15, abs=0.01)


def test_line_cost_is_quantity_times_unit_price(reference_plan: Plan) -> None:
    for line in reference_plan.lines:
        assert line.cost_low == pytest.approx(line.quantity_low * line.unit_price, abs=1e-4)
        assert line.cost_high == pytest.approx(line.quantity_high * line.unit_price, abs=1e-4)


def test_multi_az_doubles_instance_hours_and_storage() -> None:
    plan = build_plan(Answers(users=1000))
    lines = {line.id: line for line in plan.lines}
    assert lines["rds_instance"].quantity_low == 2 * 730
    assert lines["rds_storage"].quantity_low == 2 * plan.sizing.rds.allocated_storage_gb


def test_free_allowances_are_subtracted_from_quantities(reference_plan: Plan) -> None:
    lines = {line.id: line for line in reference_plan.lines}
    for line_id in ("lambda_cron_requests", "lambda_cron_compute", "lambda_worker_requests", "cloudwatch_alarms"):
        assert lines[line_id].cost_high == 0
    big = {line.id: line for line in build_plan(Answers(users=20_000, aws_budget=10_000, ai_budget=100_000)).lines}
    assert big["lambda_worker_compute"].cost_low > 0
    assert big["data_transfer"].quantity_low == pytest.approx(20_000 * 1.0 + 20_000 * 0.05 - 100)


def test_regional_prices_flow_into_lines() -> None:
    plan = build_plan(Answers(aws_region="ap-southeast-1"))
    lines = {line.id: line for line in plan.lines}
    assert lines["nat_hours"].unit_price == 0.059 and lines["nat_hours"].derivation is None
    assert lines["rds_instance"].unit_price == pytest.approx(0.032 * 1.55)
    assert lines["rds_instance"].derivation and "derived" in lines["rds_instance"].derivation


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [(50, 70, "fits"), (50, 80, "fits"), (50, 81, "tight"), (90, 120, "tight"), (101, 130, "over")],
)
def test_verdict_thresholds(low: float, high: float, verdict: str) -> None:
    assert verdict_for(100, low, high, 0.8) == verdict


def test_aws_budgets_watch_only_what_aws_bills(reference_plan: Plan) -> None:
    non_aws = sum(line.cost_high for line in reference_plan.lines if line.service in ("Vercel", "Upstash QStash"))
    assert reference_plan.guard_rails.aws_budget_limit == pytest.approx(300 - non_aws, abs=0.01)


def test_alarm_thresholds_scale_with_the_plan(reference_plan: Plan) -> None:
    alarms = {a.id: a for a in reference_plan.guard_rails.alarms}
    assert alarms["db_free_storage"].threshold == round(0.2 * 20 * 1024**3)
    assert alarms["lambda_p95_duration"].threshold == 0.8 * 300 * 1000
    # db.t4g.small: 2 GiB / 9,531,392 bytes = 225 connections by default.
    assert alarms["db_connections"].threshold == round(0.8 * 225)
    assert len(reference_plan.guard_rails.alarms) == 9 == reference_plan.sizing.alarms
