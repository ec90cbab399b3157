"""Smooth sizing: each component steps on its own threshold, and no single added user raises the
infrastructure cost by more than 30% in any supported region.

The user counts checked are the ones where some component steps (computed from rules.yaml, not swept), plus
1, 2 and the largest count: between two thresholds only usage-driven lines grow, continuously.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from generator.plan.answers import MAX_USERS, Answers
from generator.plan.capacity import workers_db_connections
from generator.plan.catalog import Catalog, load_catalog
from generator.plan.core import PricedPlan, price_plan
from generator.plan.rules import Rules, SizingSteps, load_rules
from generator.plan.scaling import scaling_table

MAX_STEP = Decimal("1.30")


def _counts(rules: Rules) -> list[int]:
    """Each threshold and the count just below it, with 1, 2 and the largest count, in order."""
    edges = {1, 2, MAX_USERS, *rules.sizing.breakpoints()}
    return sorted(edges | {u - 1 for u in edges if u > 1})


def _plan(users: int, region: str, engine: str) -> PricedPlan:
    answers = Answers(users=users, aws_region=region, cache_engine=engine, aws_budget=10**6, ai_budget=10**7)
    return price_plan(answers)


@pytest.mark.parametrize("engine", ["valkey", "redis"])
@pytest.mark.parametrize("region", load_catalog().regions)
def test_no_single_user_raises_infrastructure_by_more_than_30_percent(region: str, engine: str) -> None:
    rules = load_rules()
    counts = _counts(rules)
    cost = {u: _plan(u, region, engine).totals.infrastructure for u in counts}
    for u in (u for u in counts if u > 1 and u - 1 in cost):
        before, after = cost[u - 1], cost[u]
        for estimate in ("low", "high"):
            old, new = Decimal(str(getattr(before, estimate))), Decimal(str(getattr(after, estimate)))
            assert new <= MAX_STEP * old, f"{region} {engine}: {u - 1} -> {u} users, {estimate} {old} -> {new}"
    # And cost never falls as users grow.
    for estimate in ("low", "high"):
        series = [Decimal(str(getattr(cost[u], estimate))) for u in counts]
        assert series == sorted(series), f"{region} {engine}: {estimate} falls somewhere in {counts}"


def test_the_thresholds_are_where_components_change(rules: Rules, catalog: Catalog) -> None:
    """A breakpoint is a count where the sized stack differs from the count below; between two breakpoints
    nothing that rules.yaml steps changes."""

    def shape(users: int) -> tuple[object, ...]:
        s = price_plan(Answers(users=users), catalog, rules).sizing
        return (
            s.rds.instance_class,
            s.rds.multi_az,
            s.cache.node_type,
            s.cache.replicas,
            s.network.nat_gateways,
            s.workers_lambda.memory_mb,
            s.workers_lambda.reserved_concurrency,
        )

    for u in rules.sizing.breakpoints():
        assert shape(u) != shape(u - 1), u
        # The count just before the next threshold is sized as this one.
        later = [b for b in rules.sizing.breakpoints() if b > u]
        if later:
            assert shape(later[0] - 1) == shape(u), (u, later[0])


def test_the_largest_plan_uses_no_burstable_database(catalog: Catalog, rules: Rules) -> None:
    for region in catalog.regions:
        rds = _plan(MAX_USERS, region, "valkey").sizing.rds
        assert not rds.instance_class.startswith("db.t") and not rds.burstable, region


def test_concurrency_fits_the_database_and_serves_the_users(catalog: Catalog, rules: Rules) -> None:
    """The capacity model stays coherent at every step: the workers in flight hold a connection each, within
    the database's share for them (two for a worker that calls a model: its job and its spend ledger), and serve
    every user of the step's range within the schedules."""
    bounds = [*rules.sizing.breakpoints(), MAX_USERS + 1]
    for start, next_start in zip([1, *bounds[:-1]], bounds, strict=True):
        top = next_start - 1
        plan = price_plan(Answers(users=top, aws_budget=10**6, ai_budget=10**7), catalog, rules)
        lam = plan.sizing.workers_lambda
        assert lam.reserved_concurrency * 2 * lam.db_pool_size <= workers_db_connections(plan.sizing, rules), top
        assert not plan.over_capacity(top), (start, top, {w: c.max_users for w, c in plan.capacity.items()})


def test_the_scaling_table_names_what_changes(rules: Rules) -> None:
    rows = scaling_table(Answers(users=100, aws_budget=10**6, ai_budget=10**7), rules)
    assert [r.users for r in rows] == [100, 200, 500, 1000]
    assert rows[0].changes == () and rows[1].changes == ()
    expected = [
        (name, step.from_users)
        for name, steps in rules.sizing.components().items()
        for step in steps
        if 500 < step.from_users <= 1000
    ]
    assert len(rows[3].changes) == len(expected) > 0
    for name, start in expected:
        assert any(f"from {start:,} users" in text for text in rows[3].changes), (name, start)
    assert any("Multi-AZ" in text for text in rows[3].changes)
    # A threshold names the user count it applies from.
    database = [text for text in rows[3].changes if text.startswith("database ")]
    first = next(s for s in rules.sizing.database if 500 < s.from_users <= 1000)
    assert database == [f"database db.t4g.small -> {first.instance_class} from {first.from_users:,} users"]


def test_rules_refuse_steps_out_of_order_or_a_burstable_largest_database(rules: Rules) -> None:
    data = rules.sizing.model_dump()
    shuffled = {**data, "nat_gateways": list(reversed(data["nat_gateways"]))}
    with pytest.raises(ValidationError, match=r"sizing\.nat_gateways: the first step must apply from_users 1"):
        SizingSteps.model_validate(shuffled)
    burstable = [*data["database"][:-1], {**data["database"][-1], "instance_class": "db.t4g.2xlarge"}]
    with pytest.raises(ValidationError, match="the last step must be a non-burstable class"):
        SizingSteps.model_validate({**data, "database": burstable})
