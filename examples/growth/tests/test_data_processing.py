"""data_processing: daily roll-up in one transaction, deterministic S3 export, re-runs replace."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import psycopg

from app.workers.data_processing import export_key
from tests.helpers import Courier, Services, new_message_id, rows, scalar

ROUTE = "/workers/data-processing"


def _seed(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO raw_events (user_id, metric, value, occurred_at) VALUES"
        " ('u1', 'signups', 1, '2026-03-01T00:00:00Z'), ('u1', 'signups', 1, '2026-03-01T23:59:59Z'),"
        " ('u1', 'revenue', 12.5, '2026-03-01T10:00:00Z'), ('u2', 'signups', 1, '2026-03-01T05:00:00Z'),"
        " ('u1', 'signups', 1, '2026-03-02T00:00:00Z'), ('u1', 'signups', 1, '2026-02-28T23:59:59Z')"
    )


def _export(s3: Any, services: Services, day: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=services.bucket, Key=f"exports/daily_aggregates/day={day}/aggregates.jsonl")["Body"]
    return [json.loads(line) for line in body.read().decode().splitlines()]


def test_rolls_up_one_day_and_exports_it(
    courier: Courier, db_conn: psycopg.Connection, s3: Any, services: Services
) -> None:
    _seed(db_conn)
    response = courier.deliver(ROUTE, {"day": "2026-03-01"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["days"] == [
        {"day": "2026-03-01", "rows": 3, "s3_key": export_key(date(2026, 3, 1))}
    ]
    assert rows(db_conn, "SELECT user_id, metric, event_count, value_sum FROM daily_aggregates ORDER BY 1, 2") == [
        ("u1", "revenue", 1, 12.5),
        ("u1", "signups", 2, 2.0),
        ("u2", "signups", 1, 1.0),
    ]
    assert _export(s3, services, "2026-03-01") == [
        {"day": "2026-03-01", "event_count": 1, "metric": "revenue", "user_id": "u1", "value_sum": 12.5},
        {"day": "2026-03-01", "event_count": 2, "metric": "signups", "user_id": "u1", "value_sum": 2.0},
        {"day": "2026-03-01", "event_count": 1, "metric": "signups", "user_id": "u2", "value_sum": 1.0},
    ]
    assert scalar(db_conn, "SELECT row_count FROM daily_exports WHERE day = '2026-03-01'") == 3


def test_rerunning_a_day_replaces_instead_of_adding(
    courier: Courier, db_conn: psycopg.Connection, s3: Any, services: Services
) -> None:
    _seed(db_conn)
    assert courier.deliver(ROUTE, {"day": "2026-03-01"}).status_code == 200
    db_conn.execute(
        "INSERT INTO raw_events (user_id, metric, value, occurred_at)"
        " VALUES ('u2', 'signups', 1, '2026-03-01T06:00:00Z')"
    )
    assert courier.deliver(ROUTE, {"day": "2026-03-01"}).status_code == 200  # a new message, same day
    assert rows(db_conn, "SELECT user_id, event_count FROM daily_aggregates WHERE metric = 'signups' ORDER BY 1") == [
        ("u1", 2),
        ("u2", 2),
    ]
    assert len(_export(s3, services, "2026-03-01")) == 3
    assert scalar(db_conn, "SELECT count(*) FROM daily_exports") == 1


def test_cron_delivery_refreshes_yesterday_and_today(courier: Courier, db_conn: psycopg.Connection) -> None:
    _seed(db_conn)
    response = courier.deliver(ROUTE, {"now": "2026-03-02T00:15:00Z"})
    assert response.status_code == 200, response.text
    assert [d["day"] for d in response.json()["result"]["days"]] == ["2026-03-01", "2026-03-02"]
    assert rows(db_conn, "SELECT day::text, count(*) FROM daily_aggregates GROUP BY 1 ORDER BY 1") == [
        ("2026-03-01", 3),
        ("2026-03-02", 1),
    ]


def test_invalid_day_is_permanent(courier: Courier, db_conn: psycopg.Connection) -> None:
    response = courier.deliver(ROUTE, {"day": "not-a-day"})
    assert response.status_code == 489
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    assert rows(db_conn, "SELECT state, retryable FROM jobs") == [("failed", False)]


def test_export_failure_is_retryable_and_rolls_the_day_back(
    courier: Courier, db_conn: psycopg.Connection, s3: Any, services: Services
) -> None:
    _seed(db_conn)
    s3.delete_bucket(Bucket=services.bucket)  # S3 refuses the export: the roll-up must not stay half done
    message_id = new_message_id()
    failed = courier.deliver(ROUTE, {"day": "2026-03-01"}, message_id=message_id)
    assert failed.status_code == 500
    assert "Upstash-NonRetryable-Error" not in failed.headers
    assert rows(db_conn, "SELECT state, retryable, error FROM jobs") == [
        ("failed", True, "export of 2026-03-01 to S3 failed: NoSuchBucket")
    ]
    assert scalar(db_conn, "SELECT count(*) FROM daily_aggregates") == 0
    assert scalar(db_conn, "SELECT count(*) FROM daily_exports") == 0

    s3.create_bucket(Bucket=services.bucket)
    retried = courier.deliver(ROUTE, {"day": "2026-03-01"}, message_id=message_id, retried=1)
    assert retried.status_code == 200, retried.text
    assert rows(db_conn, "SELECT state, attempts, runs FROM jobs") == [("done", 1, 2)]
    assert len(_export(s3, services, "2026-03-01")) == 3
