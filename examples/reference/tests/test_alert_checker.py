"""alert_checker: rules over daily aggregates, at most one alert per rule and window, QStash notification.

The model, the window and the retries come from app/plan.json, as the worker reads them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from app.api import create_app
from app.plan import Plan
from app.settings import Settings
from app.workers.alert_checker import PLAN_SECTION, AlertsSettings, window_start
from tests.helpers import Courier, Services, rows, scalar

ROUTE = "/workers/alert-checker"
NOW = datetime(2026, 3, 10, 12, 5, tzinfo=UTC)


def _seed(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO daily_aggregates (day, user_id, metric, event_count, value_sum) VALUES"
        " ('2026-03-10', 'u1', 'errors', 12, 12), ('2026-03-10', 'u2', 'errors', 1, 1),"
        " ('2026-03-09', 'u2', 'errors', 99, 99)"
    )
    conn.execute(
        "INSERT INTO alert_rules (id, user_id, metric, comparator, threshold, webhook_url) OVERRIDING SYSTEM VALUE"
        " VALUES (1, 'u1', 'errors', '>', 10, 'https://hooks.example.test/u1'),"
        " (2, 'u2', 'errors', '>', 10, 'https://hooks.example.test/u2'),"
        " (3, 'u3', 'signups', '<', 1, 'https://hooks.example.test/u3')"
    )


def test_raises_explains_and_notifies_once_per_window(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, services: Services
) -> None:
    model = plan.worker("alert_checker").model
    window = timedelta(minutes=plan.section(PLAN_SECTION, AlertsSettings).window_minutes)
    start = window_start(NOW, int(window.total_seconds()) // 60)
    assert start <= NOW < start + window
    assert (start + window).date() == NOW.date()  # the seeded aggregates are one day's
    _seed(db_conn)
    first = courier.deliver(ROUTE, {"now": NOW.isoformat()})
    assert first.status_code == 200, first.text
    # u1 is over its threshold; u2's spike was yesterday; u3 has no rows, so 0 < 1 fires too.
    assert first.json()["result"]["raised"] == [1, 3]
    alerts = rows(db_conn, "SELECT rule_id, window_start, observed_value FROM alerts ORDER BY rule_id")
    assert alerts == [(1, start, 12.0), (3, start, 0.0)]
    published = sorted(services.qstash.published, key=lambda m: m.destination)
    assert [m.destination for m in published] == ["https://hooks.example.test/u1", "https://hooks.example.test/u3"]
    body = json.loads(published[0].body)
    assert (body["rule_id"], body["value"], body["window_start"]) == (1, 12.0, start.isoformat())
    assert body["explanation"].startswith(f"[{model}]")
    dedupe_id = f"{plan.project.slug}-alert-1-{int(start.timestamp())}"
    assert published[0].headers["Upstash-Deduplication-Id"] == dedupe_id
    assert published[0].headers["Upstash-Retries"] == str(plan.qstash.retries)
    assert scalar(db_conn, "SELECT notify_message_id FROM alerts WHERE rule_id = 1") == published[0].message_id

    same_window = courier.deliver(ROUTE, {"now": (start + window - timedelta(seconds=1)).isoformat()})
    assert same_window.json()["result"]["raised"] == []
    assert len(services.qstash.published) == 2

    next_window = courier.deliver(ROUTE, {"now": (start + window).isoformat()})
    assert next_window.json()["result"]["raised"] == [1, 3]
    assert scalar(db_conn, "SELECT count(*) FROM alerts") == 4
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage WHERE model = %s", model) == 4


def test_publish_failure_is_retryable_and_leaves_no_alert(
    settings: Settings, plan: Plan, db_conn: psycopg.Connection, services: Services
) -> None:
    _seed(db_conn)
    wrong_token = settings.model_copy(update={"qstash_token": type(settings.qstash_token)("bad-token")})
    with TestClient(create_app(wrong_token, plan)) as client:
        response = Courier(client, services).deliver(ROUTE, {"now": NOW.isoformat()})
    assert response.status_code == 500
    assert scalar(db_conn, "SELECT count(*) FROM alerts") == 0
    assert rows(db_conn, "SELECT state, retryable FROM jobs") == [("failed", True)]


def test_works_as_the_only_worker_in_the_plan(
    settings: Settings, plan: Plan, db_conn: psycopg.Connection, services: Services
) -> None:
    only_alerts = plan.model_copy(update={"workers": (plan.worker("alert_checker"),)})
    others = [worker for worker in plan.workers if worker.name != "alert_checker"]
    _seed(db_conn)
    with TestClient(create_app(settings, only_alerts)) as client:
        courier = Courier(client, services)
        for worker in others:
            assert courier.deliver(worker.route, {}).status_code == 404
        response = courier.deliver(ROUTE, {"now": NOW.isoformat()})
    assert response.status_code == 200
    assert response.json()["result"]["raised"] == [1, 3]
