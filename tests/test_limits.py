"""The limits the rendered code obeys (app/plan.json) and the plan's prices of exactly those limits."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from generator.cli.commands import main
from generator.plan.answers import Answers, parse_answers
from generator.plan.catalog import Catalog
from generator.plan.limits import WorkerLimits
from generator.plan.plan import Plan, build_plan
from generator.plan.rules import Rules
from generator.plan.sizing import MINUTES_PER_MONTH

HOURS = 730
DAYS = HOURS / 24


def manifest_workers(plan: Plan) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in plan.worker_manifest()["workers"]}


def ceiling_calls(name: str, worker: dict[str, Any], answers: Answers, every_minutes: int | None) -> float:
    """The most model calls a month the worker's limits allow, from app/plan.json and the answers alone."""
    limits, usage = worker["limits"], answers.usage
    if name == "video_processing":  # the code does not bound uploads: the high usage profile's count
        return (
            answers.users * usage.uploads_per_user_per_month * usage.high_usage_factor * limits["model_calls_per_unit"]
        )
    assert every_minutes is not None
    per_user = MINUTES_PER_MONTH / every_minutes * limits["model_calls_per_unit"]
    if limits["max_model_calls_per_user_per_day"] is not None:
        per_user = min(per_user, limits["max_model_calls_per_user_per_day"] * DAYS)
    return answers.users * per_user


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"users": 500, "aws_region": "eu-west-3", "aws_budget": 400, "ai_budget": 1500},
        {"users": 3000, "aws_budget": 3000, "ai_budget": 9000, "usage": {"alert_checker_every_minutes": 60}},
    ],
    ids=["reference", "growth", "hourly-alerts"],
)
def test_the_ai_high_is_calls_times_the_caps_in_plan_json(answers: dict[str, Any], catalog: Catalog) -> None:
    parsed = parse_answers(answers)
    plan = build_plan(parsed)
    workers = manifest_workers(plan)
    every = {w.name: w.every_minutes for w in plan.workers}
    lines = {line.id: line for line in plan.lines}
    priced = set()
    for use in plan.sizing.ai:
        worker = workers[use.worker]
        limits = worker["limits"]
        calls = ceiling_calls(use.worker, worker, parsed, every[use.worker])
        for direction, cap, expected in (
            ("input", limits["max_input_tokens"], getattr(parsed.usage, f"{use.use}_input_tokens_per_request")),
            ("output", limits["max_output_tokens"], getattr(parsed.usage, f"{use.use}_output_tokens_per_request")),
        ):
            model = catalog.models[worker["model"]]
            price = model.input if direction == "input" else model.output
            line = lines[f"ai_{use.use}_{direction}"]
            # Exactly, but for the line's rounding to the token (6 decimals of 1M tokens) and the cent's 1/100.
            assert line.quantity_high == pytest.approx(calls * cap / 1e6, abs=1e-6)
            assert float(line.cost_high) == pytest.approx(calls * cap / 1e6 * float(price.usd), abs=0.005)
            # The low is the expected use: never above the caps.
            assert expected <= cap
            assert line.quantity_low <= line.quantity_high
            priced.add(use.worker)
    assert priced == {name for name, w in workers.items() if w["model"]}


def test_plan_json_carries_every_limit_from_the_rules(reference_plan: Plan, rules: Rules) -> None:
    workers = manifest_workers(reference_plan)
    assert set(workers) == set(rules.workers)
    for name, worker in workers.items():
        limits, spec = worker["limits"], rules.workers[name].limits
        assert set(limits) == set(WorkerLimits.model_fields)  # the contract model, every field written
        for key in ("max_input_tokens", "max_output_tokens", "model_calls_per_unit", "max_payload_bytes"):
            assert limits[key] == getattr(spec, key)
        assert limits["max_model_calls_per_user_per_day"] == spec.max_model_calls_per_user_per_day
        assert limits["days_per_run"] == spec.days_per_run
        assert (limits["chunk_size"] is not None) == spec.fan_out
        # The deadline leaves the rest of the Lambda timeout for the commit: a message ends before it is cut off.
        assert 0 < limits["message_deadline_seconds"] < reference_plan.sizing.workers_lambda.timeout_seconds
    # The tick's batches: as many of the largest chunk payload as fit 1 MiB.
    largest = max(w["limits"]["max_payload_bytes"] for w in workers.values() if w["limits"]["chunk_size"])
    assert reference_plan.worker_manifest()["fanout"] == {"publish_batch_size": 1024 * 1024 // largest}


@pytest.mark.parametrize(("p95", "chunk"), [(10, 23), (20, 11), (5, 47), (1, 50), (200, 1)])
def test_chunks_hold_the_users_whose_calls_fit_the_deadline_at_p95(p95: float, chunk: int, rules: Rules) -> None:
    plan = build_plan(Answers(usage={"model_latency_p95_seconds": p95, "model_latency_p50_seconds": min(4, p95)}))
    for name in ("content_trends", "alert_checker"):
        limits = manifest_workers(plan)[name]["limits"]
        deadline = limits["message_deadline_seconds"]
        assert deadline == math.floor(300 * rules.constants.message_deadline_ratio) == 240
        # (240 s - 2 s of fixed work) / (1 call x p95), at least 1, at most the payload's 50 ids.
        assert limits["chunk_size"] == chunk


def test_fanout_messages_and_their_retries_are_priced() -> None:
    plan = build_plan(Answers(users=1000, aws_budget=2000, ai_budget=5000))
    q = plan.sizing.qstash
    runs = {s.worker: s.runs_per_month for s in q.schedules}
    # 1,000 users in chunks of 23: 44 messages per run of trends (every 6 h) and of alerts (every 15 min).
    chunks = math.ceil(1000 / 23) * (runs["content_trends"] + runs["alert_checker"])
    assert q.fanout_messages == pytest.approx(chunks)
    uploads, alerts = 1000 * 20, 1000 * 25
    assert q.messages.low == pytest.approx(q.scheduled_messages + chunks + uploads + alerts)
    assert q.messages.high == pytest.approx((q.scheduled_messages + chunks + 2 * uploads + 2 * alerts) * 4)
    # Every chunk is a delivery to the workers: the Lambda requests count them too.
    assert plan.sizing.compute.worker_invocations.low == pytest.approx(q.scheduled_messages + chunks + uploads)


def test_s3_puts_follow_the_roll_up_writes() -> None:
    hourly = build_plan(Answers())
    s3 = hourly.sizing.s3
    # Hourly roll-up refreshing two days per run: 730 x 2 = 1,460 export PUTs a month (the count).
    assert s3.export_puts.low == pytest.approx(1460)
    assert s3.export_puts.high == pytest.approx(1460 * 4)  # every run retried 3 times at most
    assert s3.put_requests.low == pytest.approx(1460 + 50 * 20 * 2)
    note = next(line.note for line in hourly.lines if line.id == "s3_put")
    assert note and "1,460 export PUTs" in note and "730 roll-up runs x 2 days" in note
    daily = build_plan(Answers(usage={"data_processing_every_minutes": 1440}))
    assert daily.sizing.s3.export_puts.low == pytest.approx(DAYS * 2)


def test_nat_data_follows_the_bytes_the_workers_move(rules: Rules) -> None:
    const = rules.constants
    # No model and nothing published: the NAT gateway carries nothing, whatever the user count.
    quiet = build_plan(Answers(users=1000, aws_budget=2000, workers=["data_processing"]))
    assert quiet.sizing.compute.nat_gb.high == 0
    assert next(line for line in quiet.lines if line.id == "nat_data").cost_high == 0
    # Each expected output token more per trends call adds 4 bytes per call, in and through the NAT gateway.
    base = build_plan(Answers())
    more = build_plan(Answers(usage={"trends_output_tokens_per_request": 250}))
    calls = next(u.requests.low for u in base.sizing.ai if u.use == "trends")
    extra = (more.sizing.compute.nat_gb.low - base.sizing.compute.nat_gb.low) * 1e9
    assert extra == pytest.approx(calls * 100 * const.nat_bytes_per_token)
    # The reference, by hand: tokens x 4 bytes + 2 KiB per model call; 1 KiB + 2 KiB per published message.
    tokens = 50 * 121.6667 * (500 + 150) + 1000 * (2000 + 150) + 1250 * (200 + 150)
    calls_total = 50 * 121.6667 + 1000 + 1250
    published = (121.6667 + 2920) * 3 + 1250  # fan-out chunks of 23 (3 per run) and notifications
    expected = tokens * 4 + calls_total * 2048 + published * (1024 + 2048)
    assert base.sizing.compute.nat_gb.low * 1e9 == pytest.approx(expected, rel=1e-4)


def test_costs_never_fall_across_a_user_sweep() -> None:
    previous = None
    for users in (1, 20, 21, 50, 500, 501, 2000, 5000, 5001, 20_000, 20_001, 60_000, 100_000):
        plan = build_plan(Answers(users=users, aws_budget=100_000, ai_budget=1_000_000))
        totals = plan.totals
        figures = (totals.infrastructure.low, totals.infrastructure.high, totals.ai.low, totals.ai.high)
        if previous is not None:
            assert all(b >= a - Decimal("0.01") for a, b in zip(previous, figures, strict=True)), users
        previous = figures
        assert plan.advice is None  # every tier serves its own user counts with the default profile


@pytest.mark.parametrize(
    ("args", "field", "fragment"),
    [
        (["--usage", "trends_output_tokens_per_request=1000"], "usage.trends_output_tokens_per_request", "cap of 300"),
        (["--usage", "video_input_tokens_per_request=20000"], "usage.video_input_tokens_per_request", "12,000"),
        (["--usage", "model_latency_p50_seconds=12"], "usage.model_latency_p50_seconds", "p95"),
        (["--usage", "trends_requests_per_user_per_month=100"], "usage.trends_requests_per_user_per_month", "per run"),
        (["--usage", "nat_gb_per_user_per_month=1"], "usage.nat_gb_per_user_per_month", "bytes the workers move"),
        (["--usage", "ai_call_seconds=4"], "usage.ai_call_seconds", "model_latency_p50_seconds"),
    ],
)
def test_usage_beyond_the_code_limits_is_one_line_naming_the_key(
    args: list[str], field: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["estimate", *args])
    out, err = capsys.readouterr()
    assert (exited.value.code, out) == (2, "")
    assert err.count("\n") == 1 and f"error: {field}: " in err and fragment in err and "Traceback" not in err
