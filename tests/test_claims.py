"""The corrections table: the same rows in every region, and the reference's "before" architecture priced by the
same engine for the same workload."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog, load_catalog
from generator.plan.claims import corrections, reference_answers
from generator.plan.comparison import before_architecture
from generator.plan.core import price_plan
from generator.plan.plan import build_plan
from generator.plan.rules import Rules, load_rules
from generator.reports import tables

HOURS = Decimal(730)
CENT = Decimal("0.01")


def test_every_region_has_the_same_rows_in_the_same_order(catalog: Catalog, rules: Rules) -> None:
    ids = {
        region: [c.id for c in corrections(Answers(aws_region=region), rules, catalog)] for region in catalog.regions
    }
    first = ids[catalog.regions[0]]
    assert all(rows == first for rows in ids.values()), ids
    # Every claim of rules.yaml is a row, whether it holds in the region or not.
    assert first[: len(rules.claims)] == [claim.id for claim in rules.claims]
    assert {"redis_small", "fargate", "total", "before_architecture"} <= set(first)


def test_the_verdict_is_regional_not_the_row(catalog: Catalog, rules: Rules) -> None:
    def verdicts(region: str) -> dict[str, str]:
        return {c.id: c.verdict for c in corrections(Answers(aws_region=region), rules, catalog)}

    # db.t4g.small Single-AZ is about $26 in Virginia, about $39 in Tokyo: "$35-45" is too high there, right here.
    assert verdicts("us-east-1")["rds_small"] == "too high"
    assert verdicts("ap-northeast-1")["rds_small"] == "holds"
    stated = {claim.id: claim.verdict for claim in rules.claims if claim.verdict}
    for region in catalog.regions:
        for c in corrections(Answers(aws_region=region), rules, catalog):
            if c.id in stated:
                assert c.verdict == stated[c.id]
            elif c.ours_low is None:
                assert c.verdict == "retired", (region, c.id)
            else:
                assert c.claimed_low is not None and c.claimed_high is not None and c.ours_high is not None
                # A single figure is read as +/- 10%.
                low, high = c.claimed_low, c.claimed_high
                if low == high:
                    low, high = low * Decimal("0.9"), high * Decimal("1.1")
                expected = "too high" if c.ours_high < low else "too low" if c.ours_low > high else "holds"
                assert c.verdict == expected, (region, c.id)


def test_a_row_that_cannot_be_priced_stays_and_says_why(catalog: Catalog, rules: Rules) -> None:
    prices = {k: v for k, v in catalog.prices.items() if k != "elb.alb_lcu_hour"}
    without_alb = catalog.model_copy(update={"prices": prices})
    rows = {c.id: c for c in corrections(Answers(aws_region="eu-west-3"), rules, without_alb)}
    before = rows["before_architecture"]
    assert before.verdict == "cannot apply" and before.ours_low is None
    assert before.note == "cannot be priced in eu-west-3: no elb.alb_lcu_hour price there"
    assert [c.id for c in corrections(Answers(aws_region="eu-west-3"), rules, catalog)] == list(rows)


@pytest.mark.parametrize("region", load_catalog().regions)
def test_the_before_architecture_is_priced_part_by_part(region: str, catalog: Catalog, rules: Rules) -> None:
    reference = reference_answers(region, rules)
    plan = price_plan(reference, catalog, rules)
    before = before_architecture(reference, plan, catalog, rules)
    parts = {p.name: p for p in before.parts}
    # The total is the sum of its parts as shown, each to the cent.
    assert before.monthly_low == sum(p.monthly_low for p in before.parts)
    assert before.monthly_high == sum(p.monthly_high for p in before.parts)
    assert all(p.monthly_low == p.monthly_low.quantize(CENT, ROUND_HALF_UP) for p in before.parts)
    # The parts it shares with the rendered stack are this plan's own lines.
    for service in ("RDS PostgreSQL", "ElastiCache", "NAT gateway"):
        assert (parts[service].monthly_low, parts[service].monthly_high) == plan.service_cost(service)
    # Fargate: two web tasks and one per worker, 1 vCPU / 2 GB, Arm (low) to x86 (high).
    arm = [catalog.price(f"fargate.{d}.arm64", region).usd for d in ("vcpu_hour", "gb_hour")]
    x86 = [catalog.price(f"fargate.{d}.x86", region).usd for d in ("vcpu_hour", "gb_hour")]
    task_arm, task_x86 = HOURS * (arm[0] + 2 * arm[1]), HOURS * (x86[0] + 2 * x86[1])
    web = parts["ECS Fargate, web"]
    assert (web.monthly_low, web.monthly_high) == (
        (2 * task_arm).quantize(CENT, ROUND_HALF_UP),
        (2 * task_x86).quantize(CENT, ROUND_HALF_UP),
    )
    workers = len(reference.workers)
    assert parts["ECS Fargate, workers"].monthly_high == (workers * task_x86).quantize(CENT, ROUND_HALF_UP)
    # ALB: its hours, a public IPv4 per AZ, and an LCU-hour per GB the users are served (container targets).
    alb_hour = catalog.price("elb.alb_hour", region).usd
    lcu = catalog.price("elb.alb_lcu_hour", region).usd
    ipv4 = catalog.price("ec2.public_ipv4", region).usd
    served = Decimal(repr(plan.sizing.s3.egress_gb.high))
    assert parts["ALB"].monthly_high == (HOURS * alb_hour + 2 * HOURS * ipv4 + served * lcu).quantize(
        CENT, ROUND_HALF_UP
    )
    # Vercel, Lambda and QStash are not part of it.
    assert not {"Vercel", "Upstash QStash"} & set(parts)
    # It cites the ALB's prices (the region's own quote, or how it was derived).
    assert {*catalog.price("elb.alb_hour", region).sources, *catalog.price("elb.alb_lcu_hour", region).sources} <= set(
        before.sources
    )


@pytest.mark.parametrize("region", load_catalog().regions)
def test_the_seeds_before_figure_is_checked(region: str) -> None:
    plan = build_plan(Answers(aws_region=region))
    row = next(c for c in plan.corrections if c.id == "before_architecture")
    assert (row.claimed_low, row.claimed_high) == (Decimal("800.00"), Decimal("1200.00"))
    assert row.ours_low is not None and row.ours_high is not None
    # The same workload on that architecture costs a fraction of the seed's $800-1,200, and more than the
    # rendered stack.
    assert row.ours_high < row.claimed_low and row.verdict == "too high"
    reference = price_plan(reference_answers(region, load_rules()))
    assert row.ours_low > reference.totals.infrastructure.high
    alb = load_catalog().price("elb.alb_lcu_hour", region).sources
    assert "overstates it" in row.reason and "ALB" in row.reason and all(sid in row.reason for sid in alb)
    # The sources table lists the prices only this row uses.
    assert set(alb) <= {r[0] for r in tables.sources(plan).rows}
