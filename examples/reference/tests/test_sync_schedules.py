"""Schedule sync against the QStash stand-in through the real SDK: idempotent, prefix-scoped, dry-run.

The expected schedules come from app/plan.json: one per cron worker, named `<slug>-<worker>`, each with the
workers' flow control (key and parallelism from the plan's qstash section).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from qstash import QStash

from app.plan import Plan, WorkerPlan
from tests.helpers import Services

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sync_schedules.py"
# What the stand-in stores for a schedule created without options (QStash's own default retries).
DEFAULT_RETRIES = 3


def _run(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PUBLIC_BASE_URL": services.public_base_url,
        "QSTASH_URL": services.qstash.url,
        "QSTASH_TOKEN": services.qstash.token,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )


def _client(services: Services) -> QStash:
    return QStash(services.qstash.token, retry=False, base_url=services.qstash.url)


def _schedule_id(plan: Plan, worker: WorkerPlan) -> str:
    return f"{plan.project.slug}-{worker.name.replace('_', '-')}"


def _flow_control(plan: Plan) -> str:
    return f"{plan.qstash.flow_control.key} parallelism={plan.qstash.flow_control.parallelism}"


def test_sync_creates_updates_and_removes_only_our_schedules(services: Services, plan: Plan) -> None:
    base = services.public_base_url
    failure_url = f"{base}{plan.qstash.failure_callback_route}"
    retired = f"{plan.project.slug}-retired-worker"
    crons = [worker for worker in plan.workers if worker.trigger == "cron"]
    client = _client(services)
    client.schedule.create(destination="https://other.example/job", cron="0 0 * * *", schedule_id="someone-else")
    client.schedule.create(destination="https://old.example/x", cron="1 1 * * *", schedule_id=retired)

    expected: list[str] = []
    for index, worker in enumerate(crons):
        schedule_id = _schedule_id(plan, worker)
        if index < len(crons) - 1:
            expected.append(f"+ {schedule_id}: {worker.cron} -> {base}{worker.route}")
            continue
        # The last cron worker already has a schedule from an older plan: it is updated in place.
        stale_cron = "0 0 * * *" if worker.cron != "0 0 * * *" else "30 0 * * *"
        client.schedule.create(destination=f"{base}{worker.route}", cron=stale_cron, schedule_id=schedule_id)
        diffs = [f"cron: '{stale_cron}' -> '{worker.cron}'"]
        if plan.qstash.retries != DEFAULT_RETRIES:
            diffs.append(f"retries: {DEFAULT_RETRIES} -> {plan.qstash.retries}")
        diffs += [
            f"timeout: None -> {plan.qstash.timeout_seconds}",
            f"failure_callback: None -> '{failure_url}'",
            f"flow_control: None -> '{_flow_control(plan)}'",
        ]
        expected.append(f"~ {schedule_id}: " + "; ".join(diffs))
    expected.append(f"- {retired}: 1 1 * * * -> https://old.example/x")
    existing = len(client.schedule.list())

    dry = _run(services, "--dry-run")
    assert dry.stdout.splitlines() == [*expected, f"dry run: {len(crons) + 1} change(s) not applied"]
    assert len(client.schedule.list()) == existing  # nothing changed

    assert _run(services).stdout.splitlines()[-1] == f"applied {len(crons) + 1} change(s)"
    schedules = {s.schedule_id: s for s in client.schedule.list()}
    assert sorted(schedules) == sorted([*(_schedule_id(plan, w) for w in crons), "someone-else"])
    for worker in crons:
        synced = schedules[_schedule_id(plan, worker)]
        assert (synced.destination, synced.cron) == (f"{base}{worker.route}", worker.cron)
        assert (synced.retries, synced.timeout) == (plan.qstash.retries, plan.qstash.timeout_seconds)
        assert synced.failure_callback == failure_url
        assert synced.flow_control is not None
        assert (synced.flow_control.key, synced.flow_control.parallelism) == (
            plan.qstash.flow_control.key,
            plan.qstash.flow_control.parallelism,
        )
    assert schedules["someone-else"].destination == "https://other.example/job"

    again = _run(services)
    kept = [f"= {_schedule_id(plan, w)}: {w.cron} -> {base}{w.route}" for w in crons]
    assert again.stdout.splitlines() == [*(kept or ["no cron workers in the plan"]), "applied 0 change(s)"]


def test_a_schedule_with_other_flow_control_is_updated(services: Services, plan: Plan) -> None:
    crons = [worker for worker in plan.workers if worker.trigger == "cron"]
    if not crons:
        pytest.skip("no cron worker in this plan")
    base = services.public_base_url
    worker = crons[0]
    schedule_id = _schedule_id(plan, worker)
    wanted = plan.qstash.flow_control
    client = _client(services)
    # Everything as the plan says but the parallelism, and another schedule under someone else's key.
    client.schedule.create(
        destination=f"{base}{worker.route}",
        cron=str(worker.cron),
        schedule_id=schedule_id,
        retries=plan.qstash.retries,
        timeout=plan.qstash.timeout_seconds,
        failure_callback=f"{base}{plan.qstash.failure_callback_route}",
        flow_control={"key": wanted.key, "parallelism": wanted.parallelism + 1},
    )
    lines = _run(services, "--dry-run").stdout.splitlines()
    assert (
        f"~ {schedule_id}: flow_control: '{wanted.key} parallelism={wanted.parallelism + 1}' -> '{_flow_control(plan)}'"
        in lines
    )

    _run(services)
    synced = client.schedule.get(schedule_id).flow_control
    assert synced is not None
    assert (synced.key, synced.parallelism) == (wanted.key, wanted.parallelism)
    assert f"= {schedule_id}: {worker.cron} -> {base}{worker.route}" in _run(services, "--dry-run").stdout.splitlines()
