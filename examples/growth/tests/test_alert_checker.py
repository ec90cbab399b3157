"""alert_checker: rules over daily aggregates, at most one alert per rule and window, QStash notification.

The model, the window and the retries come from app/plan.json, as the worker reads them. A tick only
publishes chunks of users (tests/test_fanout.py proves the fan-out); here each chunk is then delivered.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.plan import Plan
from app.settings import Settings
from app.workers.alert_checker import PLAN_SECTION, AlertsSettings, window_start
from devstack.qstash_server import PublishedMessage
from tests.helpers import Courier, Services, deliver_published, new_message_id, published_to, rows, scalar

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


def run_tick(
    courier: Courier, services: Services, now: datetime, chunks: Courier | None = None
) -> list[httpx.Response]:
    """One tick, then every chunk message it published (by `chunks`, if given), delivered as QStash would."""
    tick_id = new_message_id()
    response = courier.deliver(ROUTE, {"now": now.isoformat()}, message_id=tick_id)
    assert response.status_code == 200, response.text
    published = [
        m
        for m in published_to(services.qstash, services.public_base_url + ROUTE)
        if json.loads(m.body)["chunk"]["tick"] == tick_id
    ]
    return deliver_published(chunks or courier, published, ROUTE)


def raised(chunks: list[httpx.Response]) -> list[int]:
    assert {chunk.status_code for chunk in chunks} == {200}, [chunk.text for chunk in chunks]
    return sorted(rule for chunk in chunks for rule in chunk.json()["result"]["raised"])


def notifications(services: Services) -> list[PublishedMessage]:
    return sorted(
        (m for m in services.qstash.published if m.destination.startswith("https://hooks.")),
        key=lambda m: m.destination,
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
    # u1 is over its threshold; u2's spike was yesterday; u3 has no rows, so 0 < 1 fires too.
    assert raised(run_tick(courier, services, NOW)) == [1, 3]
    alerts = rows(db_conn, "SELECT rule_id, window_start, observed_value FROM alerts ORDER BY rule_id")
    assert alerts == [(1, start, 12.0), (3, start, 0.0)]
    published = notifications(services)
    assert [m.destination for m in published] == ["https://hooks.example.test/u1", "https://hooks.example.test/u3"]
    body = json.loads(published[0].body)
    assert (body["rule_id"], body["value"], body["window_start"]) == (1, 12.0, start.isoformat())
    assert body["explanation"].startswith(f"[{model}]")
    dedupe_id = f"{plan.project.slug}-alert-1-{int(start.timestamp())}"
    assert published[0].headers["Upstash-Deduplication-Id"] == dedupe_id
    assert published[0].headers["Upstash-Retries"] == str(plan.qstash.retries)
    assert scalar(db_conn, "SELECT notify_message_id FROM alerts WHERE rule_id = 1") == published[0].message_id

    assert raised(run_tick(courier, services, start + window - timedelta(seconds=1))) == []
    assert len(notifications(services)) == 2

    assert raised(run_tick(courier, services, start + window)) == [1, 3]
    assert scalar(db_conn, "SELECT count(*) FROM alerts") == 4
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage WHERE model = %s", model) == 4


def test_publish_failure_is_retryable_and_leaves_no_alert(
    settings: Settings, plan: Plan, db_conn: psycopg.Connection, services: Services
) -> None:
    _seed(db_conn)
    wrong_token = settings.model_copy(update={"qstash_token": type(settings.qstash_token)("bad-token")})
    with TestClient(create_app(settings, plan)) as client, TestClient(create_app(wrong_token, plan)) as refused:
        (chunk,) = run_tick(Courier(client, services), services, NOW, chunks=Courier(refused, services))
    assert chunk.status_code == 500
    assert scalar(db_conn, "SELECT count(*) FROM alerts") == 0
    assert rows(db_conn, "SELECT state, retryable FROM jobs ORDER BY received_at") == [("done", None), ("failed", True)]


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
        assert raised(run_tick(courier, services, NOW)) == [1, 3]


def test_a_users_alerts_beyond_its_model_calls_are_raised_unexplained(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, services: Services
) -> None:
    calls_per_user = plan.worker("alert_checker").limits.model_calls_per_unit
    rules = calls_per_user + 2
    db_conn.execute(
        "INSERT INTO alert_rules (user_id, metric, comparator, threshold, webhook_url)"
        " SELECT 'u9', 'metric-' || n, '<', 1, 'https://hooks.example.test/u9' FROM generate_series(1, %s) AS n",
        (rules,),
    )
    assert len(raised(run_tick(courier, services, NOW))) == rules
    assert len(services.azure.calls) == calls_per_user
    explanations = [row[0] for row in rows(db_conn, "SELECT explanation FROM alerts ORDER BY rule_id")]
    assert sum("not explained" in text for text in explanations) == rules - calls_per_user
    assert len(notifications(services)) == rules


def test_a_users_explanations_per_day_stay_within_the_plans_daily_cap(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, services: Services
) -> None:
    limits = plan.worker("alert_checker").limits
    daily = limits.max_model_calls_per_user_per_day
    if daily is None:
        pytest.skip("this plan has no daily cap on alert explanations")
    window = plan.section(PLAN_SECTION, AlertsSettings).window_minutes
    runs = math.ceil((daily + 1) / limits.model_calls_per_unit)
    midnight = NOW.replace(hour=0, minute=0)
    if runs * window > 24 * 60:
        pytest.skip("fewer windows in a day than the daily cap allows explanations")
    db_conn.execute(
        "INSERT INTO alert_rules (user_id, metric, comparator, threshold, webhook_url)"
        " SELECT 'u9', 'metric-' || n, '<', 1, 'https://hooks.example.test/u9' FROM generate_series(1, %s) AS n",
        (limits.model_calls_per_unit,),
    )
    for run in range(runs):
        run_tick(courier, services, midnight + timedelta(minutes=run * window))
    assert len(services.azure.calls) == daily
    assert scalar(db_conn, "SELECT count(*) FROM alerts WHERE explained") == daily
    assert (
        scalar(db_conn, "SELECT count(*) FROM alerts WHERE NOT explained") == runs * limits.model_calls_per_unit - daily
    )
    run_tick(courier, services, midnight + timedelta(days=1))  # a new day: explained again
    assert len(services.azure.calls) == daily + limits.model_calls_per_unit
