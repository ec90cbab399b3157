"""Tour step for the aggregating worker: today's raw events, rolled up and exported by one cron tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
