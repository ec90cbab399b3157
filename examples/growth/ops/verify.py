"""Checks that what runs is what the plan promised. Each check reports on its own line."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.plan import Plan
from ops.config import OpsPlan
from ops.schedules import Schedules
from ops.stack import STABLE_OK


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def p95(samples_ms: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples_ms)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def check_stack(status: str | None) -> Check:
    return Check("stack", status in STABLE_OK, f"status {status or 'missing'}")


def check_health(url: str, timeout: float = 10.0) -> Check:
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        return Check("health", False, f"GET /health: {type(exc).__name__}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    parts = ", ".join(
        f"{name} {'ok' if item.get('ok') else 'DOWN'}"
        for name, item in sorted(body.get("checks", body).items())
        if isinstance(item, dict)
    )
    detail = f"HTTP {response.status_code}" + (f" ({parts})" if parts else "")
    return Check("health", response.status_code == 200, detail)


def check_latency(url: str, samples: int, sla_p95_ms: float, clock: Callable[[], float] = time.perf_counter) -> Check:
    timings: list[float] = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(samples):
            started = clock()
            try:
                client.get(f"{url}/health")
            except httpx.HTTPError:
                return Check("latency", False, "a /health request failed during sampling")
            timings.append((clock() - started) * 1000)
    measured = p95(timings)
    detail = f"p95 {measured:.0f} ms over {samples} requests (SLA < {sla_p95_ms:g} ms)"
    return Check("latency", measured < sla_p95_ms, detail)


def check_alarms(cloudwatch: Any, names: tuple[str, ...]) -> Check:
    found: set[str] = set()
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=list(names)[:100]):
        found |= {a["AlarmName"] for a in page["MetricAlarms"]}
    missing = sorted(set(names) - found)
    detail = f"{len(found)}/{len(names)} present" + (f"; missing {', '.join(missing)}" if missing else "")
    return Check("alarms", not missing, detail)


def check_budget(budgets: Any, account_id: str, plan: OpsPlan) -> Check:
    try:
        budget = budgets.describe_budget(AccountId=account_id, BudgetName=plan.budget.name)["Budget"]
    except budgets.exceptions.NotFoundException:
        return Check("budget", False, f"{plan.budget.name} missing")
    limit = float(budget["BudgetLimit"]["Amount"])
    notes = budgets.describe_notifications_for_budget(AccountId=account_id, BudgetName=plan.budget.name)
    have = sorted({(n["NotificationType"], int(float(n["Threshold"]))) for n in notes.get("Notifications", [])})
    want = sorted({(kind, pct) for kind in ("ACTUAL", "FORECASTED") for pct in plan.budget.thresholds})
    problems = []
    if abs(limit - plan.budget.limit_usd) > 0.005:
        problems.append(f"limit {limit:g} USD, plan says {plan.budget.limit_usd:g}")
    if have != want:
        problems.append(f"alerts {have} != plan {want}")
    detail = "; ".join(problems) or f"{limit:g} USD, alerts at {list(plan.budget.thresholds)}%"
    return Check("budget", not problems, detail)


def check_schedules(schedules: Schedules, app_plan: Plan) -> Check:
    changes = schedules.diff(app_plan)
    drift = [f"{c.action} {c.schedule_id}" for c in changes if c.action != "keep"]
    return Check("schedules", not drift, "; ".join(drift) or f"{len(changes)} match the plan")
