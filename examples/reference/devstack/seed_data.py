"""Realistic rows for many users at once, written with COPY: what the capacity benchmark and the fan-out tests
seed through each worker's `seed_users` (devstack/tour_steps/). Deterministic for a given `random.Random`."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

METRICS = ("uploads", "errors", "signups")
TOPICS = ("cooking", "fitness", "travel", "photo", "music", "tech", "gardening", "books")


def user_ids(count: int, prefix: str = "user") -> list[str]:
    width = len(str(max(count, 1)))
    return [f"{prefix}-{n:0{width}d}" for n in range(1, count + 1)]


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into a table (identity columns given a value keep it, as COPY does); returns how many."""
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed_events(conn: psycopg.Connection, users: Sequence[str], now: datetime, rng: random.Random) -> int:
    """Today's raw events (before `now`) for users who have none yet: a few to a few dozen each."""
    seeded = {
        row[0] for row in conn.execute("SELECT DISTINCT user_id FROM raw_events WHERE user_id = ANY(%s)", (users,))
    }
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = max(1, int((now - midnight).total_seconds()))
    rows = [
        (user, rng.choice(METRICS), float(rng.randint(1, 5)), midnight + timedelta(seconds=rng.randrange(elapsed)))
        for user in users
        if user not in seeded
        for _ in range(rng.randint(3, 40))
    ]
    return copy_rows(conn, "raw_events", ("user_id", "metric", "value", "occurred_at"), rows)
