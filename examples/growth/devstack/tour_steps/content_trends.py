"""Tour step for the trends worker: a week of engagement on two items, summarised by one cron tick."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from devstack.seed_data import TOPICS, copy_rows
from devstack.stack import load_plan_json
from devstack.tour_support import DEMO_USER, Tour, TourError

ORDER = 20
EXAMPLE_PAYLOAD = "{}"


def prepare(tour: Tour) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for title, topic, engagements in (("Intro", "tutorials", 3), ("Launch", "product", 5)):
        content_id = tour.scalar(
            "INSERT INTO content_items (user_id, title, topic) VALUES (%s, %s, %s) RETURNING id",
            DEMO_USER,
            title,
            topic,
        )
        for _ in range(engagements):
            tour.conn.execute(
                "INSERT INTO engagements (content_id, kind, occurred_at) VALUES (%s, 'view', %s)",
                (content_id, an_hour_ago),
            )
    tour.say("seeded 2 content items with 8 engagements this week")


def payload(tour: Tour) -> dict[str, Any]:
    return {}


def check(tour: Tour) -> list[str]:
    summary = tour.scalar("SELECT summary FROM trend_summaries WHERE user_id = %s", DEMO_USER)
    if not summary:
        raise TourError("no trend summary was written")
    return [f"trend summary for {DEMO_USER}: {summary}"]


def seed_users(conn: psycopg.Connection, users: Sequence[str], *, now: datetime, rng: random.Random, **_: Any) -> str:
    """Each user: 3-8 content items on a few topics and 1-12 engagements per item within the plan's window."""
    first_id = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM content_items").fetchone()[0])  # type: ignore[index]
    items = [
        (first_id + n, user, f"{topic} post {k}", topic)
        for n, (user, k, topic) in enumerate(
            (user, k, rng.choice(TOPICS)) for user in users for k in range(rng.randint(3, 8))
        )
    ]
    copy_rows(conn, "content_items", ("id", "user_id", "title", "topic"), items)
    conn.execute("SELECT setval(pg_get_serial_sequence('content_items', 'id'), (SELECT max(id) FROM content_items))")
    window = int(timedelta(days=load_plan_json()["trends"]["window_days"]).total_seconds())
    engagements = copy_rows(
        conn,
        "engagements",
        ("content_id", "kind", "occurred_at"),
        (
            (
                item[0],
                rng.choice(("view", "like", "share", "comment")),
                now - timedelta(seconds=rng.randrange(1, window)),
            )
            for item in items
            for _ in range(rng.randint(1, 12))
        ),
    )
    return f"{len(items)} content items, {engagements} engagements in the window"


def effects(conn: psycopg.Connection) -> int:
    """Rows this worker's effect wrote: one summary per user and run."""
    row = conn.execute("SELECT count(*) FROM trend_summaries").fetchone()
    return int(row[0]) if row else 0


def seed_oversized(conn: psycopg.Connection, user: str, text: str, *, now: datetime, **_: Any) -> None:
    """A user whose trends prompt is larger than any cap: five topics named after `text`, engaged a minute ago."""
    for n in range(5):
        item = conn.execute(
            "INSERT INTO content_items (user_id, title, topic) VALUES (%s, 'big', %s) RETURNING id",
            (user, f"{n} {text}"),
        ).fetchone()
        assert item is not None
        conn.execute(
            "INSERT INTO engagements (content_id, kind, occurred_at) VALUES (%s, 'like', %s)",
            (item[0], now - timedelta(minutes=1)),
        )
