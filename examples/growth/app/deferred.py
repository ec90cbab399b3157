"""Jobs the spend guard deferred (app/spend_guard.py): listed, and replayed once the AI budget allows.

`python -m app.deferred` (`make deferred`) lists them; `python -m app.deferred --replay` (`make replay-deferred`)
publishes each one not replayed yet to its worker route again through QStash, as a new message with the plan's
retries and flow control. Each is claimed under a row lock and published with a deduplication id of its own, so
two replays running at once, or one run again after a crash, still publish it once. The replay refuses to start
while the month's budget is still exhausted: raise it first (README.md, "Azure AI spend guard") or wait for the month
to end. Exit codes: 0 done (or nothing to replay), 1 the budget is still exhausted, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import ConnectionPool

from app.spend_guard import current_month, effective_cap, ledger_state, smallest_call_usd, usd_text

if TYPE_CHECKING:
    from qstash import QStash

    from app.resources import Resources


@dataclass(frozen=True)
class DeferredJob:
    message_id: str
    worker: str
    deferred_at: datetime
    replayed_at: datetime | None
    replay_message_id: str | None


def record_deferred(pool: ConnectionPool, *, message_id: str, worker: str, url: str, body: bytes) -> None:
    """Keeps a refused job's message (a later refusal of the same message keeps the first record)."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO deferred_jobs (message_id, worker, url, body, month) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (message_id) DO NOTHING",
            (message_id, worker, url, body, current_month()),
        )


def list_deferred(conn: psycopg.Connection, *, pending_only: bool = False) -> list[DeferredJob]:
    where = " WHERE replayed_at IS NULL" if pending_only else ""
    rows = conn.execute(
        "SELECT message_id, worker, deferred_at, replayed_at, replay_message_id FROM deferred_jobs"
        + where
        + " ORDER BY deferred_at, message_id"
    ).fetchall()
    return [DeferredJob(*row) for row in rows]


def replay_dedupe_id(message_id: str) -> str:
    return f"replay-{message_id}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.deferred", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replay", action="store_true", help="publish every deferred job not replayed yet, once")
    args = parser.parse_args(argv)

    from app.logs import configure_logging
    from app.plan import load_plan
    from app.resources import build_resources
    from app.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    plan = load_plan(settings.plan_path)
    resources = build_resources(settings, plan)
    try:
        with resources.pool.connection() as conn:
            state = ledger_state(
                conn, effective_cap(plan.spend_guard.monthly_cap_usd, settings.ai_monthly_cap_usd), current_month()
            )
            jobs = list_deferred(conn, pending_only=args.replay)
        print(
            f"AI budget {state.month:%Y-%m}: {usd_text(state.spent_usd)} spent, {usd_text(state.reserved_usd)} in"
            f" flight, cap {usd_text(state.cap_usd)} ({state.used_pct:.1f}% used)"
        )
        if not args.replay:
            for job in jobs:
                status = f"replayed as {job.replay_message_id}" if job.replayed_at else "pending"
                print(f"{job.message_id}  {job.worker}  deferred {job.deferred_at:%Y-%m-%d %H:%M}  {status}")
            print(f"{sum(j.replayed_at is None for j in jobs)} deferred job(s) pending, {len(jobs)} in all")
            return 0
        if not jobs:
            print("no deferred job to replay")
            return 0
        if state.left_usd <= 0 or state.left_usd < smallest_call_usd(plan):
            print(
                f"the AI budget of {state.month:%Y-%m} is still exhausted: raise ai_budget (README.md, 'Azure AI spend"
                " guard') or wait for next month, then replay",
                file=sys.stderr,
            )
            return 1
        published = _replay(resources, [job.message_id for job in jobs])
        print(f"replayed {len(published)} deferred job(s): " + ", ".join(f"{old} -> {new}" for old, new in published))
        return 0
    finally:
        resources.close()


def _replay(resources: Resources, message_ids: list[str]) -> list[tuple[str, str]]:
    """Publishes each job once: claimed under its row lock (SKIP LOCKED: a concurrent replay takes the others),
    marked replayed in the same transaction that publishes it."""
    from app.publisher import publish_to_worker

    plan, settings = resources.plan, resources.settings
    done: list[tuple[str, str]] = []
    for message_id in message_ids:
        with resources.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT worker, body FROM deferred_jobs WHERE message_id = %s AND replayed_at IS NULL"
                " FOR UPDATE SKIP LOCKED",
                (message_id,),
            ).fetchone()
            if row is None:
                continue  # replayed meanwhile
            route, body = plan.worker(str(row[0])).route, bytes(row[1])

            def publish(client: QStash, route: str = route, body: bytes = body, message_id: str = message_id) -> str:
                payload = json.loads(body) if body.strip() else {}
                dedupe = replay_dedupe_id(message_id)
                return publish_to_worker(
                    client, plan, settings.public_base_url, route, payload, deduplication_id=dedupe
                )

            new_id = resources.qstash_clients.call(publish)
            conn.execute(
                "UPDATE deferred_jobs SET replayed_at = now(), replay_message_id = %s WHERE message_id = %s",
                (new_id, message_id),
            )
            done.append((message_id, new_id))
    return done


if __name__ == "__main__":
    sys.exit(main())
