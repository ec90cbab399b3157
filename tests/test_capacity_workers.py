"""Capacity of the workers that do not fan out: the event worker (video_processing, one QStash message per
upload) and the roll-up (data_processing, one set-based SQL roll-up a run), and the refusals above them.

Every expected value is derived here from the formulas in plan/capacity.py's docstring and the plan's own
figures (sizing, rules, usage), never typed in."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from generator.cli.commands import main
from generator.plan.advice import advise
from generator.plan.answers import Answers
from generator.plan.capacity import WorkerCapacity, workers_db_connections
from generator.plan.catalog import Catalog
from generator.plan.core import PricedPlan, price_plan
from generator.plan.plan import build_plan
from generator.plan.rules import Rules
from generator.plan.sizing import HOURS_PER_MONTH
from generator.render.project import OverBudgetError, checked_plan, template_root

GROWTH = template_root() / "examples" / "growth.yml"
# Budgets wide enough that only capacity can refuse a plan.
WIDE = {"aws_budget": 1_000_000, "ai_budget": 1_000_000}


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def video_max_users(plan: PricedPlan, answers: Answers, rules: Rules) -> int:
    """The users whose busiest hour of uploads the stack processes within the hour."""
    usage, sizing = answers.usage, plan.sizing
    calls = sizing.worker_limits["video_processing"].model_calls_per_unit
    # A message holds the Lambda's pool and, as it calls a model, the spend ledger's as many again.
    per_message = sizing.workers_lambda.db_pool_size * (2 if calls else 1)
    concurrent = min(sizing.workers_lambda.reserved_concurrency, workers_db_connections(sizing, rules) // per_message)
    per_hour = concurrent * 3600 / (usage.job_base_seconds + calls * usage.model_latency_p50_seconds)
    peak_per_user = usage.uploads_per_user_per_month / HOURS_PER_MONTH * usage.peak_hour_factor
    return math.floor(per_hour / peak_per_user)


def rollup_max_users(plan: PricedPlan, answers: Answers, rules: Rules) -> int:
    """The users whose events one run rolls up within its deadline (or its period, when shorter)."""
    usage, limits = answers.usage, plan.sizing.worker_limits["data_processing"]
    assert limits.days_per_run is not None
    seconds = min(limits.message_deadline_seconds, usage.data_processing_every_minutes * 60) - usage.job_base_seconds
    events = usage.events_per_user_per_day * limits.days_per_run
    return math.floor(seconds * rules.constants.rollup_events_per_second / events)


@pytest.mark.parametrize(
    "usage",
    [
        {},
        {"model_latency_p50_seconds": 9, "model_latency_p95_seconds": 20},
        {"uploads_per_user_per_month": 400, "peak_hour_factor": 6},
        {"job_base_seconds": 5, "peak_hour_factor": 1},
    ],
)
@pytest.mark.parametrize("users", [50, 500, 5000])
def test_video_capacity_follows_the_formula(users: int, usage: dict[str, Any], catalog: Catalog, rules: Rules) -> None:
    answers = Answers.model_validate({"users": users, **WIDE, "usage": usage})
    plan = price_plan(answers, catalog, rules)
    cap = plan.capacity["video_processing"]
    assert cap.max_users == video_max_users(plan, answers, rules)
    f = cap.figures
    assert f["db_connections_per_message"] == 2 * plan.sizing.workers_lambda.db_pool_size
    assert f["concurrent_messages"] == min(f["parallelism"], f["db_connections_for_workers"] // 2)
    per_user = answers.usage.uploads_per_user_per_month / HOURS_PER_MONTH * answers.usage.peak_hour_factor
    assert f["peak_uploads_per_hour"] == pytest.approx(users * per_user, abs=1e-3)
    # The definition holds at the boundary: max_users' busiest hour fits the hour, one user more does not.
    per_hour = f["concurrent_messages"] * 3600 / f["message_seconds_p50"]
    assert f["messages_per_hour"] == pytest.approx(per_hour, abs=1e-3)
    assert cap.max_users * per_user <= per_hour < (cap.max_users + 1) * per_user
    assert cap.limiting == (
        "parallelism" if f["parallelism"] <= f["db_connections_for_workers"] // 2 else "database_connections"
    )
    assert "busiest hour" in cap.basis and f"peak factor {answers.usage.peak_hour_factor:g}" in cap.basis


def test_the_peak_factor_scales_video_capacity_inversely(catalog: Catalog, rules: Rules) -> None:
    caps = [
        price_plan(Answers(usage={"peak_hour_factor": factor}), catalog, rules).capacity["video_processing"].max_users
        for factor in (1, 2, 4)
    ]
    assert caps[0] > caps[1] > caps[2]
    assert abs(caps[0] - 2 * caps[1]) <= 2 and abs(caps[0] - 4 * caps[2]) <= 4


@pytest.mark.parametrize(
    "usage",
    [{}, {"events_per_user_per_day": 5000}, {"job_base_seconds": 30}, {"data_processing_every_minutes": 5}],
)
@pytest.mark.parametrize("users", [50, 500, 20_000])
def test_rollup_capacity_follows_the_formula(users: int, usage: dict[str, Any], catalog: Catalog, rules: Rules) -> None:
    answers = Answers.model_validate({"users": users, **WIDE, "usage": usage})
    plan = price_plan(answers, catalog, rules)
    cap = plan.capacity["data_processing"]
    assert cap.max_users == rollup_max_users(plan, answers, rules)
    assert cap.limiting == "rollup_throughput"
    f = cap.figures
    assert f["rollup_events_per_second"] == rules.constants.rollup_events_per_second
    assert f["events_per_run"] == users * f["events_per_user_per_run"]
    # A run at max_users ends within the deadline; one more user's events would not.
    limit = min(f["message_deadline_seconds"], f["period_seconds"])
    per_user_seconds = f["events_per_user_per_run"] / f["rollup_events_per_second"]
    assert f["job_base_seconds"] + cap.max_users * per_user_seconds <= limit + 1e-9
    assert f["job_base_seconds"] + (cap.max_users + 1) * per_user_seconds > limit
    assert "rollup_events_per_second" in cap.basis


def test_the_rollup_is_bounded_by_its_schedule_when_that_is_shorter(catalog: Catalog, rules: Rules) -> None:
    # A 900 s workers' timeout gives a 720 s message deadline: a 5-minute schedule (300 s) is then the bound.
    long = rules.model_copy(update={"constants": rules.constants.model_copy(update={"worker_timeout_seconds": 900})})
    answers = Answers(usage={"data_processing_every_minutes": 5})
    plan = price_plan(answers, catalog, long)
    f = plan.capacity["data_processing"].figures
    assert f["message_deadline_seconds"] > f["period_seconds"] == 300
    assert plan.capacity["data_processing"].max_users == rollup_max_users(plan, answers, long)
    assert "5-minute schedule" in plan.capacity["data_processing"].basis


def test_every_worker_serves_the_growth_answers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["estimate", "--answers", str(GROWTH), "--format", "json"], capsys)
    assert code == 0, err
    plan = json.loads(out)
    users = plan["answers"]["users"]
    assert users == 500
    assert list(plan["capacity"]) == plan["answers"]["workers"]
    assert {"video_processing", "data_processing"} <= set(plan["capacity"])
    for worker, cap in plan["capacity"].items():
        assert cap["max_users"] >= users, worker
        assert {"max_users", "limiting", "figures", "basis"} <= set(cap)
    # The same figures the module derives: the JSON carries what the refusal and the docs show.
    answers = Answers.model_validate({k: v for k, v in plan["answers"].items() if k != "project_slug"})
    priced = price_plan(answers)
    for worker in ("video_processing", "data_processing"):
        assert plan["capacity"][worker] == json.loads(priced.capacity[worker].model_dump_json())


def _over(worker: str, answers: Answers, catalog: Catalog, rules: Rules) -> WorkerCapacity:
    return price_plan(answers, catalog, rules).capacity[worker]


def test_video_above_max_users_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], catalog: Catalog, rules: Rules
) -> None:
    # Enough uploads a user that 500 users' busiest hour exceeds what the stack processes in an hour.
    base = price_plan(Answers(users=500, **WIDE), catalog, rules).capacity["video_processing"]
    uploads = math.ceil(
        2 * base.figures["messages_per_hour"] / 500 * HOURS_PER_MONTH / base.figures["peak_hour_factor"]
    )
    answers = Answers.model_validate({"users": 500, **WIDE, "usage": {"uploads_per_user_per_month": uploads}})
    cap = _over("video_processing", answers, catalog, rules)
    assert 0 < cap.max_users < 500 and cap.limiting == "parallelism"
    args = ["estimate", "--users", "500", "--aws-budget", "1000000", "--ai-budget", "1000000"]
    args += ["--usage", f"uploads_per_user_per_month={uploads}", "--format", "json"]
    code, out, err = run_main(args, capsys)
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(out)["capacity"]["video_processing"]["max_users"] == cap.max_users
    assert f"over capacity: video_processing serves at most {cap.max_users:,} users, not 500" in err
    assert "limit: QStash flow-control parallelism" in err
    # The change that lifts it: the messages in flight that serve 500 users, or fewer users.
    needed = math.ceil(cap.figures["concurrent_messages"] * 500 / cap.max_users)
    assert f"{needed:,} messages in flight (the workers' reserved concurrency" in err
    assert f"--users {cap.max_users}" in err
    per_hour = needed * 3600 / cap.figures["message_seconds_p50"]
    assert math.floor(per_hour / cap.figures["peak_uploads_per_user_per_hour"]) >= 500
    assert 2 * needed <= cap.figures["db_connections_for_workers"]  # so no database change is named
    assert "database class" not in err
    plan = build_plan(answers)
    assert plan.advice is not None and [o.worker for o in plan.advice.capacity] == ["video_processing"]
    assert plan.advice.capacity[0].fewer_users == cap.max_users
    assert build_plan(answers.model_copy(update={"users": cap.max_users})).advice is None


def test_data_processing_above_max_users_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], catalog: Catalog, rules: Rules
) -> None:
    # Enough events a user that 500 users' roll-up outlasts the message deadline.
    base = price_plan(Answers(users=500, **WIDE), catalog, rules).capacity["data_processing"]
    events = math.ceil(2 * base.figures["events_per_user_per_day"] * base.max_users / 500)
    answers = Answers.model_validate({"users": 500, **WIDE, "usage": {"events_per_user_per_day": events}})
    cap = _over("data_processing", answers, catalog, rules)
    assert 0 < cap.max_users < 500
    args = ["estimate", "--users", "500", "--aws-budget", "1000000", "--ai-budget", "1000000"]
    code, out, err = run_main([*args, "--usage", f"events_per_user_per_day={events}", "--format", "json"], capsys)
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(out)["capacity"]["data_processing"]["max_users"] == cap.max_users
    assert f"over capacity: data_processing serves at most {cap.max_users:,} users, not 500" in err
    assert "limit: the roll-up's throughput within its message deadline" in err
    assert f"--users {cap.max_users}" in err
    # The change named: the workers' timeout whose deadline holds the roll-up. Applied, it lifts the limit.
    seconds = (
        cap.figures["job_base_seconds"]
        + 500 * cap.figures["events_per_run"] / cap.figures["users"] / (cap.figures["rollup_events_per_second"])
    )
    timeout = math.ceil(seconds / rules.constants.message_deadline_ratio)
    assert f"a workers' timeout of {timeout:,} s (rules.yaml constants.worker_timeout_seconds" in err
    longer = rules.model_copy(
        update={"constants": rules.constants.model_copy(update={"worker_timeout_seconds": timeout})}
    )
    assert _over("data_processing", answers, catalog, longer).max_users >= 500
    # New and update stop on it the same way (exit 3, nothing written).
    with pytest.raises(OverBudgetError) as refused:
        checked_plan({"users": 500, **WIDE, "usage": {"events_per_user_per_day": events}})
    assert refused.value.exit_code == 3
    assert str(refused.value).startswith(f"over capacity: data_processing serves at most {cap.max_users:,} users")
    assert f"--set users={cap.max_users}" in str(refused.value)


def test_a_rollup_past_lambdas_longest_timeout_names_a_split(catalog: Catalog, rules: Rules) -> None:
    base = price_plan(Answers(users=5000, **WIDE), catalog, rules).capacity["data_processing"]
    # Events enough that even a 900 s timeout's deadline cannot hold 5,000 users' roll-up.
    ratio = rules.constants.message_deadline_ratio * rules.constants.lambda_max_timeout_seconds
    events = math.ceil(base.figures["events_per_user_per_day"] * base.max_users / 5000 * ratio / 238 * 2)
    plan = build_plan(Answers.model_validate({"users": 5000, **WIDE, "usage": {"events_per_user_per_day": events}}))
    assert plan.advice is not None
    line = plan.advice.one_line()
    assert "over capacity: data_processing" in line and "a roll-up split across messages" in line
    assert "worker_timeout_seconds" not in line


def test_a_video_model_slower_than_the_deadline_names_the_latency(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["estimate", "--usage", "model_latency_p95_seconds=300"], capsys)
    assert code == 3 and err.count("\n") == 1
    assert "video_processing cannot serve a single user: 1 model call at the p95 latency of 300 s" in err


def test_a_peak_factor_below_one_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["estimate", "--usage", "peak_hour_factor=0.5"], capsys)
    assert code != 0 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "usage.peak_hour_factor" in err


def test_without_the_workers_no_capacity_is_given(catalog: Catalog, rules: Rules) -> None:
    plan = price_plan(Answers(workers=("content_trends",)), catalog, rules)
    assert list(plan.capacity) == ["content_trends"]
    plan = price_plan(Answers(workers=("video_processing", "data_processing")), catalog, rules)
    assert list(plan.capacity) == ["video_processing", "data_processing"]


def test_video_bounded_by_database_connections_names_a_bigger_database(catalog: Catalog, rules: Rules) -> None:
    # More reserved concurrency than the smallest class has connections for: the database bounds the uploads
    # in flight, and the change named is a database class with the connections 10 users' busiest hour needs.
    steps = rules.sizing.reserved_concurrency
    wide = rules.model_copy(
        update={
            "sizing": rules.sizing.model_copy(
                update={"reserved_concurrency": (steps[0].model_copy(update={"count": 500}), *steps[1:])}
            )
        }
    )
    base = price_plan(Answers(users=10, **WIDE), catalog, wide).capacity["video_processing"]
    assert base.limiting == "database_connections"
    assert base.figures["concurrent_messages"] == base.figures["db_connections_for_workers"] // 2 < 500
    uploads = math.ceil(2 * base.figures["messages_per_hour"] / 10 * HOURS_PER_MONTH / base.figures["peak_hour_factor"])
    answers = Answers.model_validate({"users": 10, **WIDE, "usage": {"uploads_per_user_per_month": uploads}})
    priced = price_plan(answers, catalog, wide)
    cap = priced.capacity["video_processing"]
    assert 0 < cap.max_users < 10 and cap.max_users == video_max_users(priced, answers, wide)
    advice = advise(answers, priced, wide, catalog)
    assert advice is not None
    (overrun,) = advice.capacity
    needed = math.ceil(cap.figures["concurrent_messages"] * 10 / cap.max_users)
    assert overrun.change is not None and overrun.change_answers is None
    assert overrun.change.startswith(f"a database class with {2 * needed:,} connections for the workers")
    assert "messages in flight" not in overrun.change  # the 500 reserved already suffice
