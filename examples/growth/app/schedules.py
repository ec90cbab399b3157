"""Desired QStash schedules from the plan, and an idempotent sync against QStash.

Our schedules have ids `<slug>-<worker>` (ids are how QStash overwrites); anything else in the account
is not ours and is never touched. Stale ids under our prefix (a worker removed from the plan) go.
Each carries the workers' flow control (app.publisher): a schedule without it, or with another key or
parallelism, is an update.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from qstash import QStash

from app.plan import Plan
from app.publisher import worker_flow_control

Action = Literal["create", "update", "delete", "keep"]


@dataclass(frozen=True)
class DesiredSchedule:
    schedule_id: str
    destination: str
    cron: str
    retries: int
    timeout_seconds: int
    failure_callback: str
    flow_control: str  # "<key> parallelism=<n>", as compared with what QStash reports


@dataclass(frozen=True)
class Change:
    action: Action
    schedule_id: str
    detail: str


def schedule_prefix(plan: Plan) -> str:
    return f"{plan.project.slug}-"


def desired_schedules(plan: Plan, public_base_url: str) -> list[DesiredSchedule]:
    base = public_base_url.rstrip("/")
    return [
        DesiredSchedule(
            schedule_id=f"{schedule_prefix(plan)}{worker.name.replace('_', '-')}",
            destination=f"{base}{worker.route}",
            cron=str(worker.cron),
            retries=plan.qstash.retries,
            timeout_seconds=plan.qstash.timeout_seconds,
            failure_callback=f"{base}{plan.qstash.failure_callback_route}",
            flow_control=_flow_control_text(plan.qstash.flow_control.key, plan.qstash.flow_control.parallelism),
        )
        for worker in plan.workers
        if worker.trigger == "cron"
    ]


def _flow_control_text(key: str, parallelism: int | None, rate: int | None = None, period: int | None = None) -> str:
    # A rate limit we did not set is a difference too: it would slow the workers below the plan.
    extra = (f" rate={rate}" if rate is not None else "") + (f" period={period}s" if period is not None else "")
    return f"{key} parallelism={parallelism}{extra}"


def _differences(want: DesiredSchedule, have: Any) -> list[str]:
    control = have.flow_control
    have_control = (
        None if control is None else _flow_control_text(control.key, control.parallelism, control.rate, control.period)
    )
    pairs = [
        ("destination", want.destination, have.destination),
        ("cron", want.cron, have.cron),
        ("retries", want.retries, have.retries),
        ("timeout", want.timeout_seconds, have.timeout),
        ("failure_callback", want.failure_callback, have.failure_callback),
        ("flow_control", want.flow_control, have_control),
    ]
    return [f"{name}: {old!r} -> {new!r}" for name, new, old in pairs if new != old]


def plan_changes(plan: Plan, public_base_url: str, existing: list[Any]) -> list[Change]:
    prefix = schedule_prefix(plan)
    ours = {s.schedule_id: s for s in existing if s.schedule_id.startswith(prefix)}
    changes: list[Change] = []
    desired = desired_schedules(plan, public_base_url)
    for want in desired:
        have = ours.get(want.schedule_id)
        if have is None:
            changes.append(Change("create", want.schedule_id, f"{want.cron} -> {want.destination}"))
            continue
        diffs = _differences(want, have)
        changes.append(
            Change("update", want.schedule_id, "; ".join(diffs))
            if diffs
            else Change("keep", want.schedule_id, f"{want.cron} -> {want.destination}")
        )
    wanted = {w.schedule_id for w in desired}
    for schedule_id in sorted(set(ours) - wanted):
        changes.append(Change("delete", schedule_id, f"{ours[schedule_id].cron} -> {ours[schedule_id].destination}"))
    return changes


def apply_changes(client: QStash, plan: Plan, public_base_url: str, changes: list[Change]) -> None:
    by_id = {d.schedule_id: d for d in desired_schedules(plan, public_base_url)}
    for change in changes:
        if change.action in ("create", "update"):
            want = by_id[change.schedule_id]
            client.schedule.create(
                destination=want.destination,
                cron=want.cron,
                body=json.dumps({}),
                content_type="application/json",
                retries=want.retries,
                timeout=want.timeout_seconds,
                failure_callback=want.failure_callback,
                schedule_id=want.schedule_id,
                flow_control=worker_flow_control(plan),
            )
        elif change.action == "delete":
            client.schedule.delete(change.schedule_id)


def format_changes(changes: list[Change]) -> str:
    marks = {"create": "+", "update": "~", "delete": "-", "keep": "="}
    return "\n".join(f"{marks[c.action]} {c.schedule_id}: {c.detail}" for c in changes)
