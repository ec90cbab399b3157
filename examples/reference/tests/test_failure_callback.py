"""The failure callback records messages QStash gave up on and settles their job rows."""

from __future__ import annotations

import psycopg

from app.plan import Plan
from tests.helpers import Courier, failure_callback_body, new_message_id, rows


def _callback(plan: Plan, source_id: str) -> dict[str, object]:
    worker_url = f"https://workers.example.test{plan.workers[0].route}"
    return failure_callback_body(source_id, worker_url, source_body=b'{"id": "src-1"}')


def test_records_the_failed_message_and_settles_the_job(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection
) -> None:
    route = plan.qstash.failure_callback_route
    source = new_message_id()
    db_conn.execute(
        "INSERT INTO jobs (message_id, worker, state, attempts, error, retryable)"
        " VALUES (%s, %s, 'failed', 3, 'model down', true)",
        (source, plan.workers[0].name),
    )
    message_id = new_message_id()
    response = courier.deliver(route, _callback(plan, source), message_id=message_id)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"source_message_id": source, "job_updated": True}
    assert rows(
        db_conn, "SELECT url, status, retried, max_retries, dlq_id, response_body, source_body FROM failed_messages"
    ) == [
        (
            f"https://workers.example.test{plan.workers[0].route}",
            500,
            3,
            3,
            "1725323658779-0",
            '{"status":"failed","error":"model down"}',
            '{"id": "src-1"}',
        )
    ]
    assert rows(db_conn, "SELECT state, retryable, error FROM jobs WHERE message_id = %s", source) == [
        ("failed", False, "model down (retries exhausted)")
    ]
    # The callback itself is a QStash message: its duplicate is acknowledged without a second effect.
    again = courier.deliver(route, _callback(plan, source), message_id=message_id)
    assert again.json()["status"] == "duplicate"
    assert rows(db_conn, "SELECT count(*) FROM failed_messages") == [(1,)]


def test_a_done_job_is_never_marked_failed(courier: Courier, plan: Plan, db_conn: psycopg.Connection) -> None:
    source = new_message_id()
    db_conn.execute(
        "INSERT INTO jobs (message_id, worker, state) VALUES (%s, %s, 'done')", (source, plan.workers[-1].name)
    )
    response = courier.deliver(plan.qstash.failure_callback_route, _callback(plan, source))
    assert response.json()["result"]["job_updated"] is False
    assert rows(db_conn, "SELECT state FROM jobs WHERE message_id = %s", source) == [("done",)]


def test_malformed_callback_is_permanent(courier: Courier, plan: Plan, db_conn: psycopg.Connection) -> None:
    response = courier.deliver(plan.qstash.failure_callback_route, {"status": 500})
    assert response.status_code == 489
    assert rows(db_conn, "SELECT count(*) FROM failed_messages") == [(0,)]
