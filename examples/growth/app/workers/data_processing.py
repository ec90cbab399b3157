"""data_processing (cron or event): roll `raw_events` up into `daily_aggregates` for a day, in the job's
transaction, then export that day to S3 under a deterministic key. Re-running a day replaces its rows and
its export; it never adds to them.

The export is written after the commit, never before: S3 holds only rows the database committed. The roll-up
marks its day pending in `daily_exports` (exported_at NULL) inside the job's transaction; once the job has
committed, every pending day is exported from its committed rows (under the same per-day lock as a roll-up,
so an older read never overwrites a newer export) and marked exported. An export that fails (S3 down)
leaves its day pending and is logged; the next run of this worker, the hourly tick at the latest, writes it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, field_validator

from app.resources import Resources
from app.workers.base import Job, WorkerSpec

log = logging.getLogger(__name__)


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # An event names one day; the cron sends none and refreshes the plan's `days_per_run` days up to today.
    day: date | None = None
    now: datetime | None = None

    @field_validator("day")
    @classmethod
    def _day_has_an_end(cls, value: date | None) -> date | None:
        if value is not None and value == date.max:
            raise ValueError(f"must be before {date.max.isoformat()} (a day ends at the next one)")
        return value

    @field_validator("now")
    @classmethod
    def _now_has_a_yesterday(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            today_utc(value) - timedelta(days=1)
        except OverflowError:
            raise ValueError("out of range: its UTC day and the day before must be valid dates") from None
        return value


def today_utc(now: datetime) -> date:
    return now.astimezone(UTC).date()


def export_key(day: date) -> str:
    return f"exports/daily_aggregates/day={day.isoformat()}/aggregates.jsonl"


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _lock_day(conn: psycopg.Connection, day: date) -> None:
    """Held to the end of the transaction: roll-ups and exports of one day take turns."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"daily_aggregates:{day.isoformat()}",))


def roll_up_day(job: Job, day: date) -> dict[str, Any]:
    conn = job.conn
    _lock_day(conn, day)
    start, end = _day_bounds(day)
    conn.execute("DELETE FROM daily_aggregates WHERE day = %s", (day,))
    rows = conn.execute(
        "INSERT INTO daily_aggregates (day, user_id, metric, event_count, value_sum)"
        " SELECT %s, user_id, metric, count(*), sum(value) FROM raw_events"
        " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY user_id, metric",
        (day, start, end),
    ).rowcount
    key = export_key(day)
    conn.execute(
        "INSERT INTO daily_exports (day, s3_key, row_count, exported_at, rolled_up_at)"
        " VALUES (%s, %s, %s, NULL, now())"
        " ON CONFLICT (day) DO UPDATE SET s3_key = EXCLUDED.s3_key, row_count = EXCLUDED.row_count,"
        " exported_at = NULL, rolled_up_at = now()",
        (day, key, rows),
    )
    return {"day": day.isoformat(), "rows": rows, "s3_key": key}


def export_lines(rows: list[tuple[Any, ...]], day: date) -> bytes:
    """The export's content: a pure function of the day's committed rows (sorted, keys sorted)."""
    lines = [
        json.dumps(
            {"day": day.isoformat(), "user_id": u, "metric": m, "event_count": int(c), "value_sum": float(s)},
            sort_keys=True,
        )
        for u, m, c, s in rows
    ]
    return ("\n".join(lines) + "\n" if lines else "").encode()


def export_pending(resources: Resources) -> list[date]:
    """Exports every pending day from its committed rows; stops at the first failure (the rest stay pending)."""
    from app.aws import AwsError

    exported: list[date] = []
    with resources.pool.connection() as conn:
        pending = [
            row[0] for row in conn.execute("SELECT day FROM daily_exports WHERE exported_at IS NULL ORDER BY day")
        ]
        for day in pending:
            try:
                if _export_day(resources, conn, day):
                    exported.append(day)
            except AwsError as exc:
                log.warning("export of %s to S3 failed (%s); it stays pending for the next run", day, exc.code)
                break
    return exported


def _export_day(resources: Resources, conn: psycopg.Connection, day: date) -> bool:
    with conn.transaction():
        _lock_day(conn, day)
        # Another run may have exported it (or rolled it up again and will export it) meanwhile.
        pending = conn.execute("SELECT 1 FROM daily_exports WHERE day = %s AND exported_at IS NULL", (day,))
        if pending.fetchone() is None:
            return False
        rows = conn.execute(
            "SELECT user_id, metric, event_count, value_sum FROM daily_aggregates WHERE day = %s"
            " ORDER BY user_id, metric",
            (day,),
        ).fetchall()
        resources.s3.put_object(
            resources.settings.s3_bucket, export_key(day), export_lines(rows, day), content_type="application/x-ndjson"
        )
        conn.execute("UPDATE daily_exports SET exported_at = now(), row_count = %s WHERE day = %s", (len(rows), day))
    return True


def run(job: Job, payload: Payload) -> dict[str, Any]:
    if payload.day is not None:
        days = [payload.day]
    else:
        # The plan's days per run, ending today: the days before today catch late events.
        today = today_utc(payload.now or datetime.now(UTC))
        days = [today - timedelta(days=back) for back in reversed(range(job.worker.limits.days_per_run or 1))]
    result = {"days": [roll_up_day(job, day) for day in days]}
    resources = job.resources

    def export() -> None:
        export_pending(resources)

    job.after_commit(export)
    return result


WORKER = WorkerSpec(payload=Payload, run=run)
