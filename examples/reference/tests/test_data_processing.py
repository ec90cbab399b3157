"""data_processing: daily roll-up in one transaction, deterministic S3 export after the commit, re-runs replace."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import psycopg
import pytest

from app.workers.data_processing import export_key
from tests.helpers import Courier, Services, blocked_backends, new_message_id, rows, scalar

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


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            {"day": "9999-12-31"},
            "invalid payload: day: Value error, must be before 9999-12-31 (a day ends at the next one)",
        ),
        (
            {"now": "0001-01-01T00:00:00Z"},
            "invalid payload: now: Value error, out of range: its UTC day and the day before must be valid dates",
        ),
        (
            {"now": "0001-01-01T03:00:00+05:00"},
            "invalid payload: now: Value error, out of range: its UTC day and the day before must be valid dates",
        ),
    ],
)
def test_days_without_an_end_or_a_yesterday_are_permanent(
    payload: dict[str, str], error: str, courier: Courier, db_conn: psycopg.Connection
) -> None:
    _seed(db_conn)
    response = courier.deliver(ROUTE, payload)
    assert response.status_code == 489, response.text
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    assert response.json() == {"status": "failed", "retryable": False, "error": error}
    assert rows(db_conn, "SELECT state, retryable FROM jobs") == [("failed", False)]
    assert scalar(db_conn, "SELECT count(*) FROM daily_aggregates") == 0
    assert scalar(db_conn, "SELECT count(*) FROM daily_exports") == 0


def _listed(s3: Any, services: Services) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=services.bucket).get("Contents", [])]


def test_the_export_is_written_only_after_the_commit(
    courier: Courier, db_conn: psycopg.Connection, s3: Any, services: Services
) -> None:
    """The job is caught after its roll-up, before its commit (another session holds the day's export row),
    and its session is then cut: nothing was committed, so nothing may be in S3."""
    _seed(db_conn)
    db_conn.execute("INSERT INTO daily_exports (day, s3_key, row_count) VALUES ('2026-03-01', 'k', 0)")
    message_id = new_message_id()
    with ThreadPoolExecutor(1) as pool, psycopg.connect(services.database_url) as holder:
        holder.execute("SELECT 1 FROM daily_exports WHERE day = '2026-03-01' FOR UPDATE")
        cut = pool.submit(courier.deliver, ROUTE, {"day": "2026-03-01"}, message_id=message_id)
        (pid,) = blocked_backends(db_conn)
        assert _listed(s3, services) == []  # rolled up, not committed: not exported
        db_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        failed = cut.result(10)
        holder.rollback()
    assert failed.status_code == 500
    assert _listed(s3, services) == []
    assert scalar(db_conn, "SELECT count(*) FROM daily_aggregates") == 0

    retried = courier.deliver(ROUTE, {"day": "2026-03-01"}, message_id=message_id, retried=1)
    assert retried.status_code == 200, retried.text
    assert len(_export(s3, services, "2026-03-01")) == 3
    assert rows(db_conn, "SELECT row_count, exported_at IS NOT NULL FROM daily_exports") == [(3, True)]


def test_a_failed_export_stays_pending_and_the_next_run_writes_it(
    courier: Courier, db_conn: psycopg.Connection, s3: Any, services: Services
) -> None:
    _seed(db_conn)
    s3.delete_bucket(Bucket=services.bucket)  # S3 refuses the export after the roll-up committed
    response = courier.deliver(ROUTE, {"day": "2026-03-01"})
    assert response.status_code == 200, response.text
    assert rows(db_conn, "SELECT state FROM jobs") == [("done",)]
    assert scalar(db_conn, "SELECT count(*) FROM daily_aggregates") == 3
    assert rows(db_conn, "SELECT day::text, row_count, exported_at FROM daily_exports") == [("2026-03-01", 3, None)]

    s3.create_bucket(Bucket=services.bucket)
    later = courier.deliver(ROUTE, {"day": "2026-03-02"})  # any later run exports what is pending
    assert later.status_code == 200, later.text
    assert len(_export(s3, services, "2026-03-01")) == 3
    assert len(_export(s3, services, "2026-03-02")) == 1
    assert rows(db_conn, "SELECT day::text, exported_at IS NOT NULL FROM daily_exports ORDER BY 1") == [
        ("2026-03-01", True),
        ("2026-03-02", True),
    ]


def test_the_export_is_the_committed_rows_of_the_day(
    courier: Courier, db_conn: psycopg.Connection, s3: Any, services: Services
) -> None:
    """Rows committed after a roll-up (another run's) are what the pending export writes: key and content
    are a function of the committed rows, whoever writes them."""
    _seed(db_conn)
    s3.delete_bucket(Bucket=services.bucket)
    assert courier.deliver(ROUTE, {"day": "2026-03-01"}).status_code == 200
    db_conn.execute("DELETE FROM daily_aggregates WHERE user_id = 'u2'")
    s3.create_bucket(Bucket=services.bucket)
    assert courier.deliver(ROUTE, {"day": "2026-03-02"}).status_code == 200
    assert [(r["user_id"], r["metric"]) for r in _export(s3, services, "2026-03-01")] == [
        ("u1", "revenue"),
        ("u1", "signups"),
    ]
    assert scalar(db_conn, "SELECT row_count FROM daily_exports WHERE day = '2026-03-01'") == 2
