"""content_trends: SQL aggregation over the window, one summary per user per run, Redis cache with TTL.

The model, the window and the cache TTL come from app/plan.json, as the worker reads them. A tick only
publishes chunks of users (tests/test_fanout.py proves the fan-out); here each chunk is then delivered.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import psycopg
import redis

from app.plan import Plan
from app.workers.content_trends import PLAN_SECTION, TrendsSettings, cache_key
from tests.helpers import Courier, Services, deliver_published, published_to, rows, scalar

ROUTE = "/workers/content-trends"
NOW = datetime.fromisoformat("2026-03-10T12:00:00+00:00")


def _seed(conn: psycopg.Connection, plan: Plan) -> None:
    window_start = NOW - timedelta(days=plan.section(PLAN_SECTION, TrendsSettings).window_days)
    conn.execute(
        "INSERT INTO content_items (id, user_id, title, topic) OVERRIDING SYSTEM VALUE VALUES"
        " (1, 'u1', 'Pasta', 'cooking'), (2, 'u1', 'Bread', 'cooking'), (3, 'u1', 'Run', 'fitness'),"
        " (4, 'u2', 'Lens', 'photo')"
    )
    conn.execute(
        "INSERT INTO engagements (content_id, kind, occurred_at) VALUES"
        " (1, 'like', %(recent)s), (1, 'share', %(recent)s), (2, 'like', %(just_inside)s),"
        " (3, 'like', %(recent)s), (3, 'like', %(just_outside)s), (4, 'view', %(last_second)s)",
        {
            "recent": NOW - timedelta(days=1),
            "just_inside": window_start + timedelta(hours=1),
            "just_outside": window_start - timedelta(hours=1),
            "last_second": NOW - timedelta(seconds=1),
        },
    )


def run_tick(courier: Courier, services: Services) -> tuple[dict[str, object], list[httpx.Response]]:
    """One tick, then every chunk message it published, delivered as QStash would."""
    response = courier.deliver(ROUTE, {"now": NOW.isoformat()})
    assert response.status_code == 200, response.text
    chunks = deliver_published(courier, published_to(services.qstash, services.public_base_url + ROUTE), ROUTE)
    return response.json()["result"], chunks


def test_summarises_each_user_and_caches_the_latest(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, redis_client: redis.Redis, services: Services
) -> None:
    model = plan.worker("content_trends").model
    ttl = plan.section(PLAN_SECTION, TrendsSettings).cache_ttl_seconds
    _seed(db_conn, plan)
    tick, chunks = run_tick(courier, services)
    assert (tick["units"], tick["chunks"]) == (2, 1)
    assert [chunk.json()["result"]["users"] for chunk in chunks] == [2]
    assert rows(db_conn, "SELECT user_id, top_topics, model FROM trend_summaries ORDER BY user_id") == [
        (
            "u1",
            [{"topic": "cooking", "engagements": 3, "items": 2}, {"topic": "fitness", "engagements": 1, "items": 1}],
            model,
        ),
        ("u2", [{"topic": "photo", "engagements": 1, "items": 1}], model),
    ]
    prompts = sorted(call.messages[1]["content"] for call in services.azure.calls)
    assert "cooking: 3 engagements on 2 items; fitness: 1 engagements on 1 items" in prompts[0]
    latest = cache_key(plan.project.slug, "u1")
    cached = json.loads(redis_client.get(latest) or "{}")
    assert cached["summary"] == scalar(db_conn, "SELECT summary FROM trend_summaries WHERE user_id = 'u1'")
    assert cached["summary"].startswith(f"[{model}]")
    assert ttl - 10 < redis_client.ttl(latest) <= ttl
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage WHERE worker = 'content_trends' AND model = %s", model) == 2


def test_failed_run_leaves_no_summary_and_no_cache(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, redis_client: redis.Redis, services: Services
) -> None:
    _seed(db_conn, plan)
    services.azure.fail_next(429)
    _, chunks = run_tick(courier, services)
    assert [chunk.status_code for chunk in chunks] == [500]
    assert scalar(db_conn, "SELECT count(*) FROM trend_summaries") == 0
    assert redis_client.keys(f"{plan.project.slug}:trends:*") == []


def test_no_activity_means_no_model_calls(courier: Courier, db_conn: psycopg.Connection, services: Services) -> None:
    tick, chunks = run_tick(courier, services)
    assert (tick["units"], tick["chunks"], chunks) == (0, 0, [])
    assert services.qstash.published == []
    assert services.azure.calls == []
