"""Tour step for the trends worker: a week of engagement on two items, summarised by one cron tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
