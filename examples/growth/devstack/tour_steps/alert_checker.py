"""Tour step for the alerting worker: a rule that today's numbers break, one cron tick, a notification
published through QStash (the stand-in) to a local webhook."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from devstack.seed_data import METRICS, copy_rows, seed_events
from devstack.tour_support import DEMO_USER, Tour, TourError

# The share of users whose numbers break one of their rules in a seeded day.
FIRING_SHARE = 0.3

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


def seed_users(
    conn: psycopg.Connection,
    users: Sequence[str],
    *,
    now: datetime,
    rng: random.Random,
    webhook_base: str,
    **_: Any,
) -> str:
    """Today's events and their aggregates (the same ones the roll-up computes), and 1-3 rules per user on
    today's numbers; about FIRING_SHARE of the users have one rule broken."""
    seed_events(conn, users, now, rng)
    day = now.date()
    conn.execute(
        "INSERT INTO daily_aggregates (day, user_id, metric, event_count, value_sum)"
        " SELECT %s, user_id, metric, count(*), sum(value) FROM raw_events"
        " WHERE user_id = ANY(%s) AND occurred_at >= %s AND occurred_at < %s GROUP BY user_id, metric"
        " ON CONFLICT (day, user_id, metric) DO NOTHING",
        (day, users, now.replace(hour=0, minute=0, second=0, microsecond=0), now),
    )
    totals = {
        (user, metric): float(value)
        for user, metric, value in conn.execute(
            "SELECT user_id, metric, value_sum FROM daily_aggregates WHERE day = %s AND user_id = ANY(%s)",
            (day, users),
        )
    }
    rules = []
    for user in users:
        fires = rng.random() < FIRING_SHARE
        for n, metric in enumerate(rng.sample(METRICS, rng.randint(1, 3))):
            value = totals.get((user, metric), 0.0)
            # The first rule of a firing user is just under today's value; every other rule is out of reach.
            threshold = value - 0.5 if fires and n == 0 else value + 1000
            rules.append((user, metric, ">", threshold, f"{webhook_base}/hooks/{user}"))
    copy_rows(conn, "alert_rules", ("user_id", "metric", "comparator", "threshold", "webhook_url"), rules)
    return f"{len(rules)} alert rules on today's numbers"


def effects(conn: psycopg.Connection) -> int:
    """Rows this worker's effect wrote: one alert per rule and window."""
    row = conn.execute("SELECT count(*) FROM alerts").fetchone()
    return int(row[0]) if row else 0


def seed_oversized(conn: psycopg.Connection, user: str, text: str, *, webhook_base: str, **_: Any) -> None:
    """A user whose alert prompt is larger than any cap: a broken rule on a metric named `text`."""
    conn.execute(
        "INSERT INTO alert_rules (user_id, metric, comparator, threshold, webhook_url) VALUES (%s, %s, '<', 1, %s)",
        (user, text, f"{webhook_base}/hooks/{user}"),
    )
