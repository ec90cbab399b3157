"""data_processing (cron or event): roll `raw_events` up into `daily_aggregates` for a day, in one
transaction, and export that day to S3 under a deterministic key. Re-running a day replaces its rows
and its export; it never adds to them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from app.errors import RetryableJobError
from app.workers.base import Job, WorkerSpec


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # An event names one day; the hourly cron sends none and refreshes yesterday (late events) and today.
    day: date | None = None
    now: datetime | None = None


def export_key(day: date) -> str:
    return f"exports/daily_aggregates/day={day.isoformat()}/aggregates.jsonl"


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def roll_up_day(job: Job, day: date) -> dict[str, Any]:
    conn = job.conn
    # Two runs for the same day (cron and event) would otherwise interleave their delete/insert.
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(%s))",
        (f"daily_aggregates:{day.isoformat()}",),
    )
    start, end = _day_bounds(day)
    conn.execute("DELETE FROM daily_aggregates WHERE day = %s", (day,))
    conn.execute(
        "INSERT INTO daily_aggregates (day, user_id, metric, event_count, value_sum)"
        " SELECT %s, user_id, metric, count(*), sum(value) FROM raw_events"
        " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY user_id, metric",
        (day, start, end),
    )
    rows = conn.execute(
        "SELECT user_id, metric, event_count, value_sum FROM daily_aggregates WHERE day = %s ORDER BY user_id, metric",
        (day,),
    ).fetchall()
    lines = [
        json.dumps(
            {
                "day": day.isoformat(),
                "user_id": u,
                "metric": m,
                "event_count": int(c),
                "value_sum": float(s),
            },
            sort_keys=True,
        )
        for u, m, c, s in rows
    ]
    key = export_key(day)
    try:
        job.resources.s3.put_object(
            Bucket=job.resources.settings.s3_bucket,
            Key=key,
            Body=("\n".join(lines) + "\n" if lines else "").encode(),
            ContentType="application/x-ndjson",
        )
    except (ClientError, BotoCoreError) as exc:
        raise RetryableJobError(f"export of {day} to S3 failed: {type(exc).__name__}") from exc
    conn.execute(
        "INSERT INTO daily_exports (day, s3_key, row_count) VALUES (%s, %s, %s)"
        " ON CONFLICT (day) DO UPDATE SET s3_key = EXCLUDED.s3_key, row_count = EXCLUDED.row_count,"
        " exported_at = now()",
        (day, key, len(rows)),
    )
    return {"day": day.isoformat(), "rows": len(rows), "s3_key": key}


def run(job: Job, payload: Payload) -> dict[str, Any]:
    if payload.day is not None:
        days = [payload.day]
    else:
        today = (payload.now or datetime.now(UTC)).astimezone(UTC).date()
        days = [today - timedelta(days=1), today]
    return {"days": [roll_up_day(job, day) for day in days]}


WORKER = WorkerSpec(payload=Payload, run=run)
