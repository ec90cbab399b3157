"""Budget lines, totals and verdicts; the reference scenario against an independent calculation."""

from __future__ import annotations

import pytest

from generator.plan.answers import Answers
from generator.plan.budget import verdict_for
from generator.plan.catalog import Catalog
from generator.plan.plan import Plan, build_plan
from generator.plan.rules import Rules
from generator.plan.sizing import DAYS_PER_MONTH

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
        + p["nat_gb"] * 0.075
        + p["ipv4_hour"] * hours
        + p["secret"] * 2
    )
    # The expected use: trends once per user per 6-hour run (50 x 121.67 calls, 500 in + 150 out tokens each),
    # 1,000 videos (2,000 + 150), 1,250 alerts (200 + 150). Tokens in millions.
    trends, video, alerts = p["v3_2"], p["phi4mm"], p["v3_2"]
    trend_calls = 50 * 730 * 60 / 360
    ai = (
        trends[0] * trend_calls * 500 / 1e6
        + trends[1] * trend_calls * 150 / 1e6
        + video[0] * 2.0
        + video[1] * 0.15
        + alerts[0] * 0.25
        + alerts[1] * 0.1875
    )
    assert reference_plan.totals.infrastructure.low == pytest.approx(infrastructure, rel=0.05)
    assert reference_plan.totals.ai.low == pytest.approx(ai, abs=0.01)
    assert reference_plan.totals.ai.low == pytest.approx(3.97, abs=0.01)


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
    big_plan = build_plan(Answers(users=20_000, aws_budget=10_000, ai_budget=100_000))
    big = {line.id: line for line in big_plan.lines}
    assert big["lambda_worker_compute"].cost_low > 0
    # S3 served to users (1 GB each) and what the workers send through the NAT gateway, less the free 100 GB.
    nat_out = big_plan.sizing.compute.nat.out_gb.low
    assert 0 < nat_out < big_plan.sizing.compute.nat_gb.low
    assert big["data_transfer"].quantity_low == pytest.approx(20_000 * 1.0 + nat_out - 100)


def test_alarms_billed_at_zero_say_they_are_within_the_free_ones(reference_plan: Plan, catalog: Catalog) -> None:
    alarms = next(line for line in reference_plan.lines if line.id == "cloudwatch_alarms")
    free = catalog.allowance("cloudwatch_standard_alarms")
    assert reference_plan.sizing.alarms <= free and alarms.quantity_high == 0
    assert alarms.item == f"{reference_plan.sizing.alarms} standard alarms (within the {free:g} free)"


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


@pytest.mark.parametrize(
    "answers", [{}, {"users": 2000, "aws_budget": 2000, "ai_budget": 20000}], ids=["floor", "estimate"]
)
def test_the_nat_alarm_states_the_rule_that_sets_its_threshold(answers: dict[str, int], rules: Rules) -> None:
    plan = build_plan(Answers(**answers))
    rule = next(a for a in rules.alarms if a.id == "nat_bytes")
    alarm = next(a for a in plan.guard_rails.alarms if a.id == "nat_bytes")
    high_gib_day = plan.sizing.compute.nat_gb.high / DAYS_PER_MONTH
    gateways = plan.sizing.network.nat_gateways
    assert rule.floor is not None
    per_gateway_gib = rule.threshold * max(rule.floor, high_gib_day) / gateways
    assert alarm.threshold == round(per_gateway_gib * 1024**3)
    # The description names the multiple, the estimate, the floor, the gateways and the result it gives.
    assert alarm.why.startswith(f"{rule.threshold:g}x the larger of the plan's high daily NAT traffic")
    for figure in (f"({high_gib_day:.2f} GiB)", f"the {rule.floor:g} GiB/day floor", f"{gateways} NAT gateway"):
        assert figure in alarm.why
    assert f"{per_gateway_gib:.2f} GiB a day per gateway" in alarm.why
