"""Capacity: the most users each fanned-out cron worker serves within its schedule, and the refusals above it
(the event and roll-up workers: tests/test_capacity_workers.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli.commands import main
from generator.plan.advice import advice_line
from generator.plan.answers import SCHEDULE_MINUTES, Answers
from generator.plan.catalog import Catalog
from generator.plan.core import price_plan
from generator.plan.plan import Plan, build_plan
from generator.plan.rules import Rules
from generator.render.project import OverBudgetError, checked_plan, template_root
from generator.render.update import UpdatePreview

ROOT = template_root()
GROWTH = ROOT / "examples" / "growth.yml"
COPIER = str(Path(sys.executable).with_name("copier"))
# 500 users with a slow model and the alert checker every 5 minutes: more than one run can serve.
# A budget wide enough that only capacity refuses it.
SLOW_ALERTS = {
    "users": 500,
    "aws_budget": 1000,
    "usage": {"alert_checker_every_minutes": 5, "model_latency_p50_seconds": 9},
}


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_reference_capacity_by_hand(reference_plan: Plan) -> None:
    assert list(reference_plan.capacity) == list(reference_plan.answers["workers"])  # every worker
    for worker, every in (("content_trends", 360), ("alert_checker", 15)):
        c = reference_plan.capacity[worker]
        # 23 users a message (238 s / 10 s at p95); 2 s + 23 x 4 s = 94 s at p50; 10 in flight (db.t4g.small
        # has 225 connections, 175 of them the workers'); as many waves as fit the period.
        waves = math.floor(every * 60 / 94)
        assert c.max_users == 23 * 10 * waves
        assert c.limiting == "parallelism"
        figures = c.figures
        assert (figures["chunk_size"], figures["message_seconds_p50"], figures["concurrent_messages"]) == (23, 94, 10)
        assert figures["db_max_connections"] == 225 and figures["db_connections_for_workers"] == 180 - 5
        assert figures["message_seconds_p95"] <= figures["message_deadline_seconds"] < figures["lambda_timeout_seconds"]
        assert figures["messages_per_run"] == 3 and figures["run_seconds"] == 94
    assert reference_plan.capacity["alert_checker"].max_users == 2070


def test_the_growth_answers_fit_every_worker(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["estimate", "--answers", str(GROWTH), "--format", "json"], capsys)
    assert (code, err) == (0, "")
    plan = json.loads(out)
    assert plan["answers"]["users"] == 500
    assert list(plan["capacity"]) == plan["answers"]["workers"] and len(plan["capacity"]) == 4
    for worker, c in plan["capacity"].items():
        assert c["max_users"] >= 500, worker
        assert {"max_users", "limiting", "figures"} <= set(c)


def test_the_table_and_markdown_show_a_capacity_section(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["estimate"], capsys)
    assert code == 0 and "Capacity: the most users each worker serves" in out
    assert "2,070" in out and "52,670" in out
    code, out, _ = run_main(["estimate", "--format", "markdown"], capsys)
    section = out.split("## Capacity", 1)[1].split("## ", 1)[0]
    assert code == 0 and "| Worker | Max users | Limited by | 50 users | How |" in section
    assert "| alert_checker | 2,070 | parallelism | fits |" in section
    assert "| content_trends | 52,670 | parallelism | fits |" in section
    assert "| video_processing |" in section and "| data_processing |" in section
    assert "| rollup throughput | fits |" in section


def test_above_max_users_estimate_refuses_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["estimate", "--users", "500", "--usage", "alert_checker_every_minutes=5"]
    args += ["--usage", "model_latency_p50_seconds=9"]
    code, out, err = run_main([*args, "--format", "json"], capsys)
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    plan = json.loads(out)
    cap = plan["capacity"]["alert_checker"]
    # 2 s + 23 x 9 s = 209 s a message: one wave in a 5-minute run, 10 at once: 230 users.
    assert cap["max_users"] == 230 and cap["limiting"] == "parallelism"
    assert "over capacity: alert_checker serves at most 230 users, not 500" in err
    assert "parallelism" in err
    # The change that lifts it: the next schedule long enough (15 minutes: 4 waves, 920 users), or fewer users.
    assert "--usage alert_checker_every_minutes=15" in err and "--users 230" in err
    assert "content_trends" not in err
    # The table never says "fits" for it.
    code, out, err = run_main(args, capsys)
    assert code == 3 and "Verdict: over capacity (alert_checker)" in out and "Verdict: fits" not in out


def test_the_change_named_lifts_the_limit(catalog: Catalog, rules: Rules) -> None:
    answers = Answers.model_validate(SLOW_ALERTS)
    plan = build_plan(answers)
    assert plan.totals.verdict != "over" and plan.advice is not None
    (overrun,) = plan.advice.capacity
    assert overrun.worker == "alert_checker" and overrun.max_users == 230
    assert overrun.change_answers is not None
    lifted = Answers.model_validate({**SLOW_ALERTS, **overrun.change_answers})
    assert lifted.usage.model_latency_p50_seconds == 9  # the other overrides are kept
    assert build_plan(lifted).advice is None
    # The shorter schedules do not lift it: the change is the smallest that does.
    assert lifted.usage.alert_checker_every_minutes == 15
    assert overrun.fewer_users == 230
    assert build_plan(answers.model_copy(update={"users": overrun.fewer_users})).advice is None
    # In the syntax of each command.
    line = advice_line(plan.advice.model_dump(), "set")
    assert "--set usage={alert_checker_every_minutes: 15, model_latency_p50_seconds: 9.0}" in line
    assert "--set users=230" in line


def test_database_connections_can_be_the_limit(catalog: Catalog, rules: Rules) -> None:
    # A pilot tier that reserves more concurrency than db.t4g.micro has connections for (112; 89 under the
    # alarm, 84 for the workers, two a message as alerts call a model): the database bounds the messages in flight.
    steps = rules.sizing.reserved_concurrency
    pilot = steps[0].model_copy(update={"count": 500})
    wide = rules.model_copy(
        update={"sizing": rules.sizing.model_copy(update={"reserved_concurrency": (pilot, *steps[1:])})}
    )
    plan = price_plan(Answers(users=10), catalog, wide)
    c = plan.capacity["alert_checker"]
    assert c.limiting == "database_connections"
    assert c.figures["db_max_connections"] == 112
    assert c.figures["concurrent_messages"] == (math.floor(0.8 * 112) - 5) // 2 == 42
    assert c.max_users == 23 * 42 * 9


def test_a_model_slower_than_the_deadline_serves_no_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["estimate", "--usage", "model_latency_p95_seconds=300", "--format", "json"], capsys)
    assert code == 3 and err.count("\n") == 1
    assert "content_trends cannot serve a single user" in err and "alert_checker cannot serve a single user" in err
    assert "240 s message deadline" in err and "a model answering within 238 s at p95" in err
    assert "video_processing cannot serve a single user" in err and "data_processing" not in err
    plan = build_plan(Answers(usage={"model_latency_p95_seconds": 300}))
    with_model = {w: c for w, c in plan.capacity.items() if c.figures.get("model_calls_per_unit")}
    assert set(with_model) == {"video_processing", "content_trends", "alert_checker"}
    assert {c.limiting for c in with_model.values()} == {"message_deadline"}
    assert {c.max_users for c in with_model.values()} == {0}
    # The roll-up calls no model: the latency does not bound it.
    assert plan.capacity["data_processing"].max_users > 0


def test_at_100000_users_the_stack_serves_them_on_a_non_burstable_database() -> None:
    plan = build_plan(Answers(users=100_000, aws_budget=100_000, ai_budget=1_000_000))
    assert plan.advice is None
    assert not plan.sizing.rds.burstable and plan.sizing.rds.instance_class == "db.m7g.xlarge"
    assert all(c.max_users >= 100_000 for c in plan.capacity.values())
    # 500 messages in flight hold 500 connections: within the workers' share of db.m7g.xlarge's 1,802.
    alerts = plan.capacity["alert_checker"].figures
    assert alerts["parallelism"] == 500 <= alerts["db_connections_for_workers"]


def test_the_scaling_table_marks_the_counts_a_worker_cannot_serve() -> None:
    plan = build_plan(Answers.model_validate({**SLOW_ALERTS, "users": 100}))
    rows = {row.users: row for row in plan.scaling}
    assert rows[100].over_capacity == ()
    assert rows[500].over_capacity == ("alert_checker",)


def test_new_and_update_stop_on_it_as_on_an_over_budget_plan() -> None:
    with pytest.raises(OverBudgetError) as refused:
        checked_plan(SLOW_ALERTS)
    assert refused.value.exit_code == 3
    assert str(refused.value).startswith("over capacity: alert_checker serves at most 230 users")
    assert "--set users=230" in str(refused.value)
    # `betagen update` phrases the new version's plan JSON the same way before writing anything.
    record = json.loads(build_plan(Answers.model_validate(SLOW_ALERTS)).model_dump_json())
    preview = UpdatePreview(src_path="x", old_ref="a", new_ref="b", answers=SLOW_ALERTS, old_plan=None, new_plan=record)
    assert preview.over_budget.startswith("over capacity: alert_checker") and "--set users=230" in preview.over_budget


@pytest.mark.slow
def test_copier_stops_before_writing_anything(tmp_path: Path) -> None:
    dest = tmp_path / "over"
    usage = "usage={alert_checker_every_minutes: 5, model_latency_p50_seconds: 9}"
    data = ["--data", "users=500", "--data", "aws_budget=1000", "--data", usage]
    done = subprocess.run(
        [COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "HEAD", *data, str(ROOT), str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "over capacity: alert_checker serves at most 230 users" in done.stderr and "Traceback" not in done.stderr
    assert "-d users=230" in done.stderr
    assert not dest.exists()


@settings(max_examples=25, deadline=None)
@given(
    users=st.integers(1, 100_000),
    every=st.sampled_from([m for m in SCHEDULE_MINUTES if m <= 60]),
    p50=st.floats(0.5, 20),
    spread=st.floats(1, 4),
)
def test_refused_exactly_above_max_users_and_the_ways_out_fit(
    users: int, every: int, p50: float, spread: float
) -> None:
    usage = {
        "alert_checker_every_minutes": every,
        "model_latency_p50_seconds": p50,
        "model_latency_p95_seconds": p50 * spread,
    }
    answers = Answers.model_validate({"users": users, "aws_budget": 1e6, "ai_budget": 1e7, "usage": usage})
    plan = build_plan(answers)
    over = {w for w, c in plan.capacity.items() if users > c.max_users}
    refused = {o.worker for o in plan.advice.capacity} if plan.advice else set()
    assert refused == over
    for overrun in plan.advice.capacity if plan.advice else ():
        if overrun.change_answers:
            lifted = price_plan(Answers.model_validate({**answers.model_dump(), **overrun.change_answers}))
            assert overrun.worker not in lifted.over_capacity(users)
        if overrun.fewer_users:
            fewer = price_plan(answers.model_copy(update={"users": overrun.fewer_users}))
            assert not fewer.over_capacity(overrun.fewer_users)
