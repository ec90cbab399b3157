"""Tour step for the alerting worker: a rule that today's numbers break, one cron tick, a notification
published through QStash (the stand-in) to a local webhook."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devstack.tour_support import DEMO_USER, Tour, TourError

ORDER = 30
EXAMPLE_PAYLOAD = "{}"


def prepare(tour: Tour) -> None:
    today = datetime.now(UTC).date()
    if not tour.scalar("SELECT count(*) FROM daily_aggregates WHERE day = %s AND user_id = %s", today, DEMO_USER):
        # No aggregating worker in this repository ran before: write today's numbers directly.
        tour.conn.execute(
            "INSERT INTO daily_aggregates (day, user_id, metric, event_count, value_sum)"
            " VALUES (%s, %s, 'uploads', 4, 10)",
            (today, DEMO_USER),
        )
    assert tour.stack.sink is not None
    webhook = f"{tour.stack.sink.url}/hooks/alerts"
    tour.conn.execute(
        "INSERT INTO alert_rules (user_id, metric, comparator, threshold, webhook_url)"
        " VALUES (%s, 'uploads', '>', 5, %s)",
        (DEMO_USER, webhook),
    )
    tour.say(f"seeded an alert rule: uploads > 5 today, notify {webhook}")


def payload(tour: Tour) -> dict[str, Any]:
    return {}


def check(tour: Tour) -> list[str]:
    row = tour.conn.execute(
        "SELECT a.observed_value, r.comparator, r.threshold, a.notify_message_id FROM alerts a"
        " JOIN alert_rules r ON r.id = a.rule_id"
    ).fetchone()
    if row is None:
        raise TourError("no alert was raised")
    assert tour.stack.sink is not None
    notified = len(tour.stack.sink.received)
    if not notified:
        raise TourError("the alert notification did not reach the webhook")
    return [
        f"alert raised: uploads {row[0]:g} {row[1]} {row[2]:g}; notification {row[3]}",
        f"webhook notifications delivered (signed, via the stand-in): {notified}",
    ]
