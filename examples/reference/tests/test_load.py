"""1,000 deliveries, a third of them duplicates, 8 in flight at a time against a real uvicorn server:
exactly one effect per distinct message, none missing. The sender behaves like QStash: any answer other
than 2xx is delivered again (with Upstash-Retried incremented).

The messages go to the failure-callback route, which every rendered service has whatever workers it
keeps, through the same signature check, dedupe and job protocol as the worker routes. Marked `load`:
`pytest -m "not load"` leaves it out where time is short.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from app.api import create_app
from app.plan import Plan
from app.settings import Settings
from devstack.app_server import ThreadedAppServer
from tests.helpers import Courier, Services, failure_callback_body, new_message_id, rows, scalar

TOTAL = 1000
DISTINCT = 667
CONCURRENCY = 8
MAX_ATTEMPTS = 10


@pytest.fixture
def live_app(settings: Settings, plan: Plan) -> Any:
    app: FastAPI = create_app(settings, plan)
    server = ThreadedAppServer(app).start()
    yield server
    server.stop()


@pytest.mark.load
def test_thousand_deliveries_with_duplicates_have_exactly_one_effect_each(
    live_app: ThreadedAppServer, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    route = plan.qstash.failure_callback_route
    worker_url = f"https://workers.example.test{plan.workers[0].route}"
    messages = []
    for i in range(DISTINCT):
        # Each message reports a different source message, so each distinct delivery has its own effect.
        messages.append((new_message_id(), failure_callback_body(f"msg_source_{i:04d}", worker_url)))
    rng = random.Random(4)
    deliveries = messages + rng.sample(messages, TOTAL - DISTINCT)
    rng.shuffle(deliveries)

    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def send(item: tuple[str, dict[str, object]]) -> int:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=live_app.url, timeout=30)
        courier = Courier(local.http, services)
        message_id, payload = item
        for attempt in range(MAX_ATTEMPTS):
            response = courier.deliver(route, payload, message_id=message_id, retried=attempt)
            with lock:
                statuses[response.status_code] += 1
            if response.is_success:
                return attempt
            time.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"{message_id} never succeeded")

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, deliveries))
    elapsed = time.perf_counter() - started

    assert set(statuses) <= {200, 409}, statuses
    assert statuses[200] == TOTAL  # every delivery was acknowledged exactly once in the end
    assert scalar(db_conn, "SELECT count(*) FROM jobs") == DISTINCT
    assert rows(db_conn, "SELECT state, runs, count(*) FROM jobs GROUP BY 1, 2") == [("done", 1, DISTINCT)]
    recorded = {row[0] for row in rows(db_conn, "SELECT source_message_id FROM failed_messages")}
    assert recorded == {f"msg_source_{i:04d}" for i in range(DISTINCT)}
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == DISTINCT
    assert elapsed < 120, f"took {elapsed:.1f}s"
