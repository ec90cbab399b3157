"""The tour's spend-guard part (app/spend_guard.py): the month-to-date AI spend against the plan, then the app
restarted with a tiny demo budget (AI_MONTHLY_CAP_USD at what is already spent), a job whose model call the guard
refuses (answered 489, kept as deferred, the model not called), `python -m app.deferred` listing it, and, with
the plan's budget back, `python -m app.deferred --replay` running it once."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from types import ModuleType

from devstack.app_server import PROJECT_DIR
from devstack.tour_support import Tour, TourError


def show(tour: Tour, steps: list[tuple[str, ModuleType]]) -> None:
    from app.spend_guard import current_month, ledger_state, month_to_date

    guarded = [(name, module) for name, module in steps if tour.workers[name].get("model")]
    if not guarded:
        return
    plan_cap = Decimal(str(tour.plan["spend_guard"]["monthly_cap_usd"]))
    tour.step("month-to-date AI spend against the plan (the spend guard's ledger)")
    for row in month_to_date(tour.conn):
        tour.say(
            f"{row.worker} {row.model}: {row.calls} call(s), {row.input_tokens} + {row.output_tokens} tokens,"
            f" ${row.usd:.6f}"
        )
    state = ledger_state(tour.conn, plan_cap, current_month())
    thresholds = ", ".join(f"{pct}%" for pct in tour.plan["spend_guard"]["alert_thresholds_pct"])
    tour.say(
        f"{state.month:%Y-%m}: ${state.spent_usd:.6f} spent of the plan's ${plan_cap:,.2f} AI budget"
        f" ({state.used_pct:.4f}%); alerts at {thresholds}"
    )

    demo_cap = state.spent_usd
    tour.step(f"restart the app with a tiny demo budget: AI_MONTHLY_CAP_USD={demo_cap} (all of it spent already)")
    tour.stack.restart_app(AI_MONTHLY_CAP_USD=str(demo_cap))
    name, module = guarded[0]
    calls_before = len(tour.stack.azure.calls) if tour.stack.azure else 0
    message_id = _send(tour, name, module)
    tour.qstash.wait_for(message_id)
    tour.qstash.wait_idle()  # a tick's chunks, and the failure callback of the refused job
    refused = tour.conn.execute(
        "SELECT message_id, worker, error FROM jobs WHERE state = 'budget_exhausted' ORDER BY received_at"
    ).fetchall()
    if not refused:
        raise TourError(f"the spend guard let the {name} job past the demo budget")
    attempt = next(
        (a for m in tour.qstash.messages.values() if m.message_id == refused[0][0] for a in m.attempts), None
    )
    status = attempt.status if attempt is not None else None
    for refused_id, worker, error in refused:
        tour.say(f"{worker} job {refused_id} answered {status} (Upstash-NonRetryable-Error): {error}")
    calls_after = len(tour.stack.azure.calls) if tour.stack.azure else 0
    if status != 489 or calls_after != calls_before:
        raise TourError(f"the refusal answered {status} and made {calls_after - calls_before} model call(s)")
    tour.say(f"the model was not called, and QStash does not retry the refused job (sent as {message_id})")

    tour.step("list the deferred jobs: python -m app.deferred")
    _command(tour, [], AI_MONTHLY_CAP_USD=str(demo_cap))
    tour.step("restore the plan's budget and replay them once: python -m app.deferred --replay")
    tour.stack.restart_app()
    _command(tour, ["--replay"])
    tour.qstash.wait_idle()
    pending = tour.scalar("SELECT count(*) FROM deferred_jobs WHERE replayed_at IS NULL")
    done = tour.scalar(
        "SELECT count(*) FROM jobs j JOIN deferred_jobs d ON j.message_id = d.replay_message_id WHERE j.state = 'done'"
    )
    if pending or done != len(refused):
        raise TourError(f"replay: {pending} deferred job(s) left, {done} of {len(refused)} replayed job(s) done")
    tour.say(f"{done} deferred job(s) replayed and done")
    tour.summary.append(f"spend guard refused {len(refused)} job(s) past the demo budget; replayed once")


def _send(tour: Tour, name: str, module: ModuleType) -> str:
    """A job for this worker: published (event workers) or one tick (cron workers, whose chunks call the model)."""
    if tour.workers[name]["trigger"] == "cron":
        return str(tour.qstash.trigger_schedule(tour.sync_schedules()[name]))
    return tour.publish_job(name, module)


def _command(tour: Tour, args: list[str], **extra_env: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.deferred", *args],
        cwd=PROJECT_DIR,
        env={**os.environ, **tour.stack.env, **extra_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for line in (result.stdout + result.stderr).splitlines():
        tour.say(line)
    if result.returncode != 0:
        raise TourError(f"python -m app.deferred {' '.join(args)} exited {result.returncode}")
