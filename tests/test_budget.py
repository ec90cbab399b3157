"""Budget lines, totals and verdicts; the reference scenario against an independent calculation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generator.plan.answers import Answers
from generator.plan.budget import priced_line, verdict_for
from generator.plan.catalog import Catalog, UnitPrice
from generator.plan.plan import Plan, build_plan
from generator.plan.rules import Rules
from generator.plan.sizing import DAYS_PER_MONTH, Range

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
    assert float(reference_plan.totals.infrastructure.low) == pytest.approx(infrastructure, rel=0.05)
    # Each AI line is rounded to the cent once: the total may differ from the unrounded sum by a cent a line.
    assert float(reference_plan.totals.ai.low) == pytest.approx(ai, abs=0.03)


def _half_up(value: Decimal) -> Decimal:
    """Rounding to the cent, half up, written out: away from zero when the third decimal is 5 or more."""
    hundredths = value * 100
    whole = int(hundredths)
    return Decimal(whole + (1 if hundredths - whole >= Decimal("0.5") else 0)) / 100


def test_a_flat_line_costs_quantity_times_unit_price_rounded_half_up_to_the_cent(
    reference_plan: Plan, catalog: Catalog
) -> None:
    checked = 0
    for line in reference_plan.lines:
        region = "global" if line.budget == "ai" else reference_plan.answers["aws_region"]
        if line.budget == "infrastructure" and (line.low_price or catalog.price(line.price_id, region).tiers):
            continue  # tiered prices and two-plan lines have their own tests
        for quantity, cost in ((line.quantity_low, line.cost_low), (line.quantity_high, line.cost_high)):
            assert cost == _half_up(Decimal(repr(quantity)) * line.unit_price), line.id
            assert cost == cost.quantize(Decimal("0.01")) and cost.as_tuple().exponent == -2
            checked += 1
    assert checked >= 30


def _flat_price(usd: str) -> UnitPrice:
    return UnitPrice(
        id="test.price", region="us-east-1", usd=Decimal(usd), unit="unit", description="a test price",
        sources=("A2",), as_of="2026-11", confidence="H",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("quantity", "usd", "cost"),
    [(0.5, "0.01", "0.01"), (0.4999, "0.01", "0.00"), (1, "0.125", "0.13"), (1, "0.135", "0.14"),
     (3, "0.0049", "0.01"), (730, "0.0128", "9.34"), (0.1, "0.3", "0.03")],
)  # fmt: skip
def test_each_line_is_rounded_to_the_cent_once_half_up(quantity: float, usd: str, cost: str, catalog: Catalog) -> None:
    line = priced_line(
        catalog, id="x", budget="infrastructure", service="S", item="i", price=_flat_price(usd),
        quantity=Range.of(quantity),
    )  # fmt: skip
    assert line.cost_low == line.cost_high == Decimal(cost)
    assert str(line.cost_low) == cost  # two decimals, also in JSON


def test_every_total_is_the_exact_sum_of_its_lines(reference_plan: Plan) -> None:
    for total in (reference_plan.totals.infrastructure, reference_plan.totals.ai):
        lines = [line for line in reference_plan.lines if line.budget == total.budget]
        assert total.low == sum((line.cost_low for line in lines), Decimal(0))
        assert total.high == sum((line.cost_high for line in lines), Decimal(0))
        assert total.headroom_low == total.limit - total.low and total.headroom_high == total.limit - total.high
    totals = reference_plan.totals
    assert totals.all_low == totals.infrastructure.low + totals.ai.low
    assert totals.all_high == totals.infrastructure.high + totals.ai.high


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
    assert lines["nat_hours"].unit_price == Decimal("0.059") and lines["nat_hours"].derivation is None
    # Singapore t4g ratio (A57); a derived price carries two more decimals than its quote.
    assert float(lines["rds_instance"].unit_price) == pytest.approx(0.032 * 1.569, abs=1e-5)
    assert lines["rds_instance"].derivation and "derived" in lines["rds_instance"].derivation


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [("50", "70", "fits"), ("50", "80", "fits"), ("50", "80.01", "tight"), ("90", "100", "tight"),
     ("90", "100.01", "at risk"), ("90", "120", "at risk"), ("100", "130", "at risk"), ("100.01", "130", "over")],
)  # fmt: skip
def test_verdicts_never_hide_an_overrun(low: str, high: str, verdict: str) -> None:
    """fits and tight only when the high estimate is within the budget; at risk when only the low one is."""
    assert verdict_for(Decimal(100), Decimal(low), Decimal(high), Decimal("0.8")) == verdict


def test_aws_budgets_watch_only_what_aws_bills(reference_plan: Plan) -> None:
    non_aws = sum(line.cost_high for line in reference_plan.lines if line.service in ("Vercel", "Upstash QStash"))
    assert Decimal(repr(reference_plan.guard_rails.aws_budget_limit)) == Decimal("300.00") - non_aws
    aws_high = sum(
        line.cost_high
        for line in reference_plan.lines
        if line.budget == "infrastructure" and line.service not in ("Vercel", "Upstash QStash")
    )
    assert Decimal(repr(reference_plan.guard_rails.aws_estimate_high)) == aws_high


@pytest.mark.parametrize("users", [50, 2_000, 50_000])
def test_qstash_bills_each_estimate_on_the_cheaper_plan_that_holds_it(users: int, catalog: Catalog) -> None:
    plan = build_plan(Answers(users=users, aws_budget=100_000, ai_budget=1_000_000))
    qstash = plan.sizing.qstash
    line = next(line for line in plan.lines if line.id == "qstash")

    def bill(plan_name: str, messages: float) -> Decimal:
        if plan_name == "free":
            return Decimal(0)
        if plan_name == "pay-as-you-go":
            price = catalog.global_price("qstash.payg_100k").usd
            return _half_up(Decimal(repr(round(messages / 100_000, 6))) * price)
        return catalog.global_price(f"qstash.{plan_name.replace('-', '_')}").usd

    assert line.cost_low == bill(qstash.plan_low, qstash.messages.low)
    assert line.cost_high == bill(qstash.plan, qstash.messages.high)
    # No plan that holds the low estimate bills it for less (pay-as-you-go holds any volume).
    payg_low = bill("pay-as-you-go", qstash.messages.low)
    assert line.cost_low <= payg_low
    if qstash.plan_low != qstash.plan:
        assert line.low_price is not None and f"{qstash.plan_low} plan (low)" in line.item
        assert f"{qstash.plan} plan (high)" in line.item
    else:
        assert line.low_price is None and line.item == f"{qstash.plan} plan"


def test_at_50000_users_the_low_estimate_is_not_billed_at_a_fixed_plan() -> None:
    """The issue's case: the low estimate's messages cost less on pay-as-you-go than the fixed plan the high
    estimate needs."""
    plan = build_plan(Answers(users=50_000, aws_budget=100_000, ai_budget=1_000_000))
    qstash = plan.sizing.qstash
    line = next(line for line in plan.lines if line.id == "qstash")
    assert qstash.plan.startswith("fixed-") and qstash.plan_low == "pay-as-you-go"
    assert line.cost_low < line.cost_high and line.low_price is not None
    assert line.low_price.price_id == "qstash.payg_100k"


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
