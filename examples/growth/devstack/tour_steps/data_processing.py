"""Tour step for the aggregating worker: today's raw events, rolled up and exported by one cron tick."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from devstack.seed_data import seed_events
from devstack.stack import BUCKET
from devstack.tour_support import DEMO_USER, Tour, TourError

ORDER = 10
EXAMPLE_PAYLOAD = "{}"


def prepare(tour: Tour) -> None:
    now = datetime.now(UTC)
    for seconds, value in ((4, 1), (3, 2), (2, 3), (1, 4)):
        tour.conn.execute(
            "INSERT INTO raw_events (user_id, metric, value, occurred_at) VALUES (%s, 'uploads', %s, %s)",
            (DEMO_USER, value, now - timedelta(seconds=seconds)),
        )
    tour.say("seeded 4 raw_events (uploads) for today")


def payload(tour: Tour) -> dict[str, Any]:
    return {}


def check(tour: Tour) -> list[str]:
    if not tour.scalar("SELECT count(*) FROM daily_aggregates"):
        raise TourError("no daily_aggregates rows were written")
    listed = tour.stack.s3_client().list_objects_v2(Bucket=BUCKET, Prefix="exports/").get("Contents", [])
    if not listed:
        raise TourError("nothing was exported to the bucket")
    return [f"object exported: s3://{BUCKET}/{obj['Key']} ({obj['Size']} bytes)" for obj in listed]


def seed_users(conn: psycopg.Connection, users: Sequence[str], *, now: datetime, rng: random.Random, **_: Any) -> str:
    """Today's raw events: 3-40 per user."""
    return f"{seed_events(conn, users, now, rng)} raw events today"


def users_done(conn: psycopg.Connection, users: Sequence[str], now: datetime) -> int:
    """Users whose events of today are rolled up (this worker does not fan out: no chunks to count)."""
    row = conn.execute(
        "SELECT count(DISTINCT user_id) FROM daily_aggregates WHERE day = %s AND user_id = ANY(%s)",
        (now.date(), users),
    ).fetchone()
    return int(row[0]) if row else 0
