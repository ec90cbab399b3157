"""verify: each check on its own, against moto (alarms, budget), the QStash stand-in and a loopback /health."""

from __future__ import annotations

import pytest

from app.plan import load_plan
from app.settings import DEFAULT_PLAN_PATH
from ops.deploy import deploy, verify_only
from ops.errors import VerifyFailedError
from ops.verify import check_alarms, check_budget, check_latency, check_stack, p95
from tests.ops_support import ACCOUNT_ID, Deployed, HealthServer, Recorder, ops_context

pytest_plugins = ["tests.conftest_ops"]


def test_p95_is_the_nearest_rank() -> None:
    assert p95([float(n) for n in range(1, 21)]) == 19.0
    assert p95([5.0]) == 5.0
    assert p95([1.0] * 19 + [900.0]) == 1.0
    assert p95([1.0] * 18 + [900.0, 900.0]) == 900.0


def test_latency_fails_above_the_sla(health_server: HealthServer) -> None:
    ticks = iter(float(n) for n in range(1000))  # every request "takes" one second
    slow = check_latency(health_server.url, 5, 500.0, clock=lambda: next(ticks))
    assert not slow.ok
    assert slow.detail == "p95 1000 ms over 5 requests (SLA < 500 ms)"
    fast = check_latency(health_server.url, 5, 500.0)
    assert fast.ok
    assert health_server.calls == 10


def test_stack_status_check() -> None:
    assert check_stack("UPDATE_COMPLETE").ok
    assert not check_stack("UPDATE_ROLLBACK_COMPLETE").ok
    assert check_stack(None).detail == "status missing"


def test_verify_reports_every_check_and_passes_after_a_deploy(deployed: Deployed, recorder: Recorder) -> None:
    assert deploy(ops_context(deployed, recorder), yes=True, dry_run=False) == 0
    ctx = ops_context(deployed, recorder)
    assert verify_only(ctx) == 0
    out = ctx.console.out.getvalue()
    out = out[out.rindex("==> preflight") :]
    for name in ("stack", "health", "latency", "alarms", "budget", "schedules"):
        assert f"ok   {name}:" in out
    assert "verified: 6 checks passed" in out


def test_verify_fails_on_a_missing_alarm_a_wrong_budget_and_missing_schedules(
    deployed: Deployed, recorder: Recorder
) -> None:
    world = deployed.world
    world.client("cloudwatch").delete_alarms(AlarmNames=[world.plan.alarm_names[0]])
    budgets = world.client("budgets")
    budgets.delete_budget(AccountId=ACCOUNT_ID, BudgetName=world.plan.budget.name)
    budgets.create_budget(
        AccountId=ACCOUNT_ID,
        Budget={
            "BudgetName": world.plan.budget.name,
            "BudgetLimit": {"Amount": "1.0", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )
    assert not check_alarms(world.client("cloudwatch"), world.plan.alarm_names).ok
    budget = check_budget(budgets, ACCOUNT_ID, world.plan)
    assert not budget.ok
    assert f"limit 1 USD, plan says {world.plan.budget.limit_usd:g}" in budget.detail

    ctx = ops_context(deployed, recorder)
    with pytest.raises(VerifyFailedError) as failure:
        verify_only(ctx)
    assert failure.value.failed == ["alarms", "budget", "schedules"]  # never deployed: no schedules yet
    out = ctx.console.out.getvalue()
    assert f"missing {world.plan.alarm_names[0]}" in out
    cron_workers = [w for w in load_plan(DEFAULT_PLAN_PATH).workers if w.trigger == "cron"]
    assert out.count("create ") == len(cron_workers)
