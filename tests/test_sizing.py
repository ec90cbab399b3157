"""Sizing rules: component steps, Multi-AZ, storage, Lambda timeouts, QStash volume and plan, Azure tokens."""

from __future__ import annotations

import pytest

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog
from generator.plan.rules import Rules
from generator.plan.sizing import MINUTES_PER_MONTH, cron_expression, size


def sized(rules: Rules, catalog: Catalog, **answers):  # type: ignore[no-untyped-def]
    return size(Answers(**answers), rules, catalog)


@pytest.mark.parametrize(
    ("users", "tier", "rds", "cache", "nodes", "nat", "multi_az"),
    [
        (1, "pilot", "db.t4g.micro", "cache.t4g.micro", 1, 1, False),
        (20, "pilot", "db.t4g.micro", "cache.t4g.micro", 1, 1, False),
        (21, "beta", "db.t4g.small", "cache.t4g.micro", 1, 1, False),
        (50, "beta", "db.t4g.small", "cache.t4g.small", 1, 1, False),
        (500, "beta", "db.t4g.small", "cache.t4g.small", 1, 1, False),
        (501, "growth", "db.t4g.medium", "cache.t4g.small", 1, 1, False),
        (751, "growth", "db.t4g.medium", "cache.t4g.small", 1, 1, True),
        (1201, "growth", "db.t4g.medium", "cache.t4g.small", 1, 2, True),
        (1501, "growth", "db.t4g.medium", "cache.t4g.small", 2, 2, True),
        (5001, "scale", "db.m7g.large", "cache.t4g.medium", 2, 2, True),
        (20_001, "large", "db.m7g.xlarge", "cache.t4g.medium", 3, 2, True),
        (100_000, "large", "db.m7g.xlarge", "cache.t4g.medium", 3, 2, True),
    ],
)
def test_each_component_follows_its_own_steps(
    rules: Rules, catalog: Catalog, users: int, tier: str, rds: str, cache: str, nodes: int, nat: int, multi_az: bool
) -> None:
    s = sized(rules, catalog, users=users)
    got = (s.tier.name, s.rds.instance_class, s.cache.node_type, s.cache.nodes, s.network.nat_gateways, s.rds.multi_az)
    assert got == (tier, rds, cache, nodes, nat, multi_az)
    assert s.tier.min_users <= users <= s.tier.max_users


def test_the_steps_come_one_at_a_time_at_the_low_end(rules: Rules, catalog: Catalog) -> None:
    """The step that used to bring Multi-AZ, medium classes, a replica and a second NAT at 501 users is spread."""
    steps = rules.sizing
    multi_az = next(s.from_users for s in steps.availability if s.target_pct > steps.single_az_uptime_pct)
    second_nat = next(s.from_users for s in steps.nat_gateways if s.count > 1)
    replica = next(s.from_users for s in steps.cache_replicas if s.count > 0)
    assert len({multi_az, second_nat, replica}) == 3
    before, after = sized(rules, catalog, users=multi_az - 1), sized(rules, catalog, users=multi_az)
    assert not before.rds.multi_az and after.rds.multi_az
    assert after.rds.availability_target_pct > steps.single_az_uptime_pct >= before.rds.availability_target_pct
    assert (before.network.nat_gateways, before.cache.nodes) == (after.network.nat_gateways, after.cache.nodes)


def test_past_the_growth_tier_the_database_is_not_burstable(rules: Rules, catalog: Catalog) -> None:
    growth, scale, top = (sized(rules, catalog, users=n) for n in (5000, 5001, 100_000))
    assert growth.rds.burstable and growth.rds.instance_class.startswith("db.t")
    for s in (scale, top):
        assert not s.rds.burstable and not s.rds.instance_class.startswith("db.t")
    why = next(step.why for step in rules.sizing.database if step.from_users == 5001)
    assert "burstable" in why and "credit" in why


def test_beta_is_single_az_and_growth_is_multi_az_with_replica(rules: Rules, catalog: Catalog) -> None:
    beta, growth = sized(rules, catalog, users=50), sized(rules, catalog, users=2000)
    assert not beta.rds.multi_az and beta.cache.nodes == 1 and beta.network.nat_gateways == 1
    assert growth.rds.multi_az and growth.cache.nodes == 2 and growth.network.nat_gateways == 2


def test_next_changes_name_every_step_ahead(rules: Rules, catalog: Catalog) -> None:
    s = sized(rules, catalog, users=50)
    ahead = {(c.component, c.from_users) for c in s.next_changes}
    expected = {
        (name, step.from_users)
        for name, steps in rules.sizing.components().items()
        for step in steps
        if step.from_users > 50
    }
    assert ahead == expected
    multi_az = next(c for c in s.next_changes if c.component == "availability")
    assert multi_az.describe() == (
        f"uptime target 99.5% (Single-AZ database) -> 99.9% (Multi-AZ database) from {multi_az.from_users:,} users"
    )
    assert sized(rules, catalog, users=100_000).next_changes == ()


def test_rds_storage_has_a_floor_then_grows_with_data_and_headroom(rules: Rules, catalog: Catalog) -> None:
    assert sized(rules, catalog, users=50).rds.allocated_storage_gb == 20
    big = sized(rules, catalog, users=20_000)
    # 20,000 users x (200 events x 90 days x 500 B + 10 MB) = 380 GB of data, x 1.5 headroom.
    assert big.rds.data_gb == pytest.approx(380)
    assert big.rds.allocated_storage_gb == 570


def test_worker_timeout_is_within_qstash_and_lambda_limits(rules: Rules, catalog: Catalog) -> None:
    for users in (1, 50, 5000, 100_000):
        s = sized(rules, catalog, users=users)
        assert s.workers_lambda.timeout_seconds == s.qstash.timeout_seconds
        assert s.workers_lambda.timeout_seconds <= 900  # Lambda's maximum and QStash Free's 15 minutes


def test_reference_s3_and_token_volumes(rules: Rules, catalog: Catalog) -> None:
    s = sized(rules, catalog)
    assert s.s3.storage_gb.low == 150
    tokens = {u.use: (u.input_tokens.low, u.output_tokens.low) for u in s.ai}
    # Expected use: one trends call per user per 6-hour run, one per video, one per alert.
    trend_calls = 50 * MINUTES_PER_MONTH / 360
    assert tokens["trends"] == pytest.approx((trend_calls * 500, trend_calls * 150))
    assert tokens["video"] == pytest.approx((1000 * 2000, 1000 * 150))
    assert tokens["alerts"] == pytest.approx((1250 * 200, 1250 * 150))


def test_qstash_messages_are_ticks_chunks_and_jobs_times_one_plus_retries(rules: Rules, catalog: Catalog) -> None:
    s = sized(rules, catalog)
    schedules = MINUTES_PER_MONTH / 360 + MINUTES_PER_MONTH / 60 + MINUTES_PER_MONTH / 15
    # Trends and alerts fan out: 50 users in chunks of 23 are 3 messages per run.
    assert s.worker_limits["content_trends"].chunk_size == s.worker_limits["alert_checker"].chunk_size == 23
    chunks = 3 * (MINUTES_PER_MONTH / 360 + MINUTES_PER_MONTH / 15)
    per_user_jobs = 50 * 20 + 50 * 25  # uploads + alert notifications
    assert s.qstash.scheduled_messages == pytest.approx(schedules)
    assert s.qstash.fanout_messages == pytest.approx(chunks)
    assert s.qstash.messages.low == pytest.approx(schedules + chunks + per_user_jobs)
    assert s.qstash.messages.high == pytest.approx((schedules + chunks + 2 * per_user_jobs) * 4)


def test_qstash_plan_is_the_cheapest_that_holds_the_high_estimate(rules: Rules, catalog: Catalog) -> None:
    small = sized(rules, catalog, users=5, workers=["data_processing"])
    assert small.qstash.plan == "free"
    assert sized(rules, catalog).qstash.plan == "pay-as-you-go"
    # 30,000 users: about 27M messages/month high ($267 pay-as-you-go) but under 1M/day: fixed $180 wins.
    large = sized(rules, catalog, users=30_000)
    assert large.qstash.messages_per_day_high < 1_000_000 and large.qstash.messages.high / 100_000 > 180
    assert large.qstash.plan == "fixed-1m"
    # 100,000 users pass 1M/day (the alert checker's chunks every 15 minutes): fixed 10M ($420) beats
    # pay-as-you-go (about $890).
    huge = sized(rules, catalog, users=100_000)
    assert huge.qstash.messages_per_day_high > 1_000_000 and huge.qstash.messages.high / 100_000 > 420
    assert huge.qstash.plan == "fixed-10m"


def test_only_chosen_workers_have_schedules_and_ai(rules: Rules, catalog: Catalog) -> None:
    s = sized(rules, catalog, workers=["data_processing"])
    assert [x.worker for x in s.qstash.schedules] == ["data_processing"]
    assert s.ai == ()
    assert s.qstash.event_jobs.low == 0 and s.qstash.notifications.low == 0


@pytest.mark.parametrize(
    ("minutes", "cron"),
    [(5, "*/5 * * * *"), (15, "*/15 * * * *"), (60, "0 * * * *"), (360, "0 */6 * * *"), (1440, "0 0 * * *")],
)
def test_cron_expressions(minutes: int, cron: str) -> None:
    assert cron_expression(minutes) == cron


def test_alarm_count_follows_nat_gateways(rules: Rules, catalog: Catalog) -> None:
    assert sized(rules, catalog, users=50).alarms == 9
    assert sized(rules, catalog, users=2000).alarms == 10
