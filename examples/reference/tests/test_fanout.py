"""Fan-out of the cron workers whose work grows with users (app/fanout.py), for each such worker in the plan.

A tick publishes ceil(N / chunk_size) chunk messages once, even when it is delivered twice or fails after
publishing part of them; each chunk's effect happens once; the model is never asked for more than the plan's
token caps; a model slower than the message deadline ends the message as a retry, not a stuck job.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.fanout import deduplication_id
from app.plan import Plan, WorkerPlan, load_plan
from app.prompt_budget import token_ceiling
from app.settings import DEFAULT_PLAN_PATH, Settings
from devstack.seed_data import user_ids
from devstack.tour_steps import load
from tests.helpers import (
    Courier,
    Services,
    deliver_published,
    new_message_id,
    published_to,
    rows,
    scalar,
    wait_until_no_job_lock,
)

NOW = datetime(2026, 3, 10, 12, 5, tzinfo=UTC)
WEBHOOKS = "https://hooks.example.test"


def fanned_out(plan: Plan) -> list[str]:
    # The reference workers: a custom one fans out through the same app/fanout.py, but its users and effects are
    # the founder's code (its own test, tests/test_custom_<name>.py, runs its tick, chunks and duplicates).
    return [w.name for w in plan.workers if w.trigger == "cron" and w.limits.chunk_size is not None and not w.custom]


@pytest.fixture(params=fanned_out(load_plan(DEFAULT_PLAN_PATH)))
def worker(request: pytest.FixtureRequest, plan: Plan) -> WorkerPlan:
    return plan.worker(request.param)


def step(worker: WorkerPlan) -> ModuleType:
    """The worker's devstack step: how to seed it for many users, and how to count its effects."""
    ((_, module),) = load([worker.name])
    return module


def chunk_size(worker: WorkerPlan) -> int:
    assert worker.limits.chunk_size is not None
    return worker.limits.chunk_size


def effects(conn: psycopg.Connection, worker: WorkerPlan) -> int:
    return int(step(worker).effects(conn))


def seed(conn: psycopg.Connection, worker: WorkerPlan, count: int, prefix: str = "user") -> list[str]:
    users = user_ids(count, prefix)
    step(worker).seed_users(conn, users, now=NOW, rng=random.Random(7), webhook_base=WEBHOOKS)
    return users


def with_limits(plan: Plan, name: str, **limits: Any) -> Plan:
    workers = tuple(
        w.model_copy(update={"limits": w.limits.model_copy(update=limits)}) if w.name == name else w
        for w in plan.workers
    )
    return plan.model_copy(update={"workers": workers})


@pytest.fixture
def app_for(settings: Settings, services: Services) -> Iterator[Callable[[Plan], Courier]]:
    clients: list[TestClient] = []

    def make(plan: Plan) -> Courier:
        client = TestClient(create_app(settings, plan))
        clients.append(client.__enter__())
        return Courier(client, services)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def tick(courier: Courier, worker: WorkerPlan, message_id: str, retried: int = 0) -> dict[str, Any]:
    response = courier.deliver(worker.route, {"now": NOW.isoformat()}, message_id=message_id, retried=retried)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def test_a_tick_publishes_one_message_per_chunk_once(
    courier: Courier, plan: Plan, worker: WorkerPlan, services: Services, db_conn: psycopg.Connection
) -> None:
    size = chunk_size(worker)
    users = seed(db_conn, worker, 2 * size + 3)
    message_id = new_message_id()
    result = tick(courier, worker, message_id)
    chunks = math.ceil(len(users) / size)
    assert (result["units"], result["chunks"], result["published"], result["deduplicated"]) == (
        len(users),
        chunks,
        chunks,
        0,
    )
    url = services.public_base_url + worker.route
    published = published_to(services.qstash, url)
    assert [json.loads(m.body) for m in published] == [
        {"chunk": {"tick": message_id, "index": index}} for index in range(chunks)
    ]
    assert [m.headers["Upstash-Deduplication-Id"] for m in published] == [
        deduplication_id(plan.project.slug, worker.name, message_id, index) for index in range(chunks)
    ]
    control = plan.qstash.flow_control
    for message in published:
        assert message.headers["Upstash-Flow-Control-Key"] == control.key
        assert message.headers["Upstash-Flow-Control-Value"] == f"parallelism={control.parallelism}"
        assert message.headers["Upstash-Retries"] == str(plan.qstash.retries)
        assert message.headers["Upstash-Timeout"] == f"{plan.qstash.timeout_seconds}s"
    stored = rows(db_conn, "SELECT units FROM fanout_chunks WHERE tick_id = %s ORDER BY chunk", message_id)
    assert [len(units) for (units,) in stored] == [size, size, 3]
    assert sorted(u for (units,) in stored for u in units) == users

    again = courier.deliver(worker.route, {"now": NOW.isoformat()}, message_id=message_id)
    assert again.json()["status"] == "duplicate"
    assert len(published_to(services.qstash, url)) == chunks


def test_a_tick_that_fails_midway_publishes_nothing_twice(
    app_for: Callable[[Plan], Courier],
    plan: Plan,
    worker: WorkerPlan,
    services: Services,
    db_conn: psycopg.Connection,
) -> None:
    size = chunk_size(worker)
    small_batches = plan.model_copy(update={"fanout": plan.fanout.model_copy(update={"publish_batch_size": 2})})
    courier = app_for(small_batches)
    users = seed(db_conn, worker, 4 * size + 1)  # 5 chunks: batches of 2, 2, 1
    services.qstash.refuse_publishes(after=1)  # the second batch request fails
    message_id = new_message_id()
    failed = courier.deliver(worker.route, {"now": NOW.isoformat()}, message_id=message_id)
    assert failed.status_code == 500
    assert failed.json()["retryable"] is True
    url = services.public_base_url + worker.route
    early = published_to(services.qstash, url)
    assert len(early) == 2
    assert rows(db_conn, "SELECT state, retryable FROM jobs WHERE message_id = %s", message_id) == [("failed", True)]
    assert scalar(db_conn, "SELECT count(*) FROM fanout_chunks") == 0  # rolled back with the tick
    # QStash delivers what it has: the tick committed no chunk yet, so the chunk asks to come back later.
    waiting = courier.deliver(worker.route, early[0].body, message_id=early[0].message_id)
    assert waiting.status_code == 500
    assert "has not committed its chunks" in waiting.json()["error"]

    late = seed(db_conn, worker, size, prefix="late")  # users who arrive before the retry: the retry lists them
    result = tick(courier, worker, message_id, retried=1)
    assert (result["units"], result["chunks"], result["published"], result["deduplicated"]) == (
        len(users) + len(late),
        6,
        4,
        2,
    )
    published = published_to(services.qstash, url)
    assert sorted(json.loads(m.body)["chunk"]["index"] for m in published) == [0, 1, 2, 3, 4, 5]
    answers = deliver_published(courier, published, worker.route)  # the two early ones again, with their ids
    assert [r.json()["status"] for r in answers] == ["done"] * 6
    done = rows(db_conn, "SELECT units FROM fanout_chunks WHERE tick_id = %s AND done_at IS NOT NULL", message_id)
    assert sorted(u for (units,) in done for u in units) == sorted(users + late)  # everyone, once


def test_a_chunk_message_outside_its_ticks_chunks_does_nothing_or_is_refused(
    courier: Courier, worker: WorkerPlan, services: Services, db_conn: psycopg.Connection
) -> None:
    seed(db_conn, worker, 1)
    message_id = new_message_id()
    assert tick(courier, worker, message_id)["chunks"] == 1
    past = courier.deliver(worker.route, {"chunk": {"tick": message_id, "index": 1}})
    assert past.status_code == 200, past.text
    assert past.json()["result"]["past_the_ticks_chunks"] is True
    unknown = courier.deliver(worker.route, {"chunk": {"tick": new_message_id(), "index": 0}})
    assert unknown.status_code == 489
    assert "is not a" in unknown.json()["error"]
    assert services.azure.calls == []


def test_each_chunk_runs_once_and_its_effect_happens_once(
    courier: Courier, worker: WorkerPlan, services: Services, db_conn: psycopg.Connection
) -> None:
    size = chunk_size(worker)
    users = seed(db_conn, worker, size + 1)
    message_id = new_message_id()
    tick(courier, worker, message_id)
    url = services.public_base_url + worker.route
    published = published_to(services.qstash, url)
    assert len(published) == 2
    first = deliver_published(courier, published, worker.route)
    assert [r.json()["status"] for r in first] == ["done", "done"]
    calls = len(services.azure.calls)
    effect_rows = effects(db_conn, worker)
    assert calls == scalar(db_conn, "SELECT count(*) FROM ai_usage WHERE worker = %s", worker.name)
    # One call per user that had something to tell the model (every seeded user is active; about a third
    # of them broke an alert rule), and one effect row for each.
    assert 0 < effect_rows == calls <= len(users)

    # QStash delivers at least once: the same messages again change nothing.
    again = deliver_published(courier, published, worker.route)
    assert [r.json()["status"] for r in again] == ["duplicate", "duplicate"]
    # A copy under another message id (past QStash's deduplication): the chunk is done, nothing runs.
    copy = courier.deliver(worker.route, published[0].body)
    assert copy.status_code == 200, copy.text
    assert copy.json()["result"]["already_done"] is True
    assert len(services.azure.calls) == calls
    assert effects(db_conn, worker) == effect_rows
    assert rows(db_conn, "SELECT chunk, message_id FROM fanout_chunks WHERE done_at IS NOT NULL ORDER BY chunk") == [
        (0, published[0].message_id),
        (1, published[1].message_id),
    ]


def test_the_model_is_never_asked_for_more_than_the_caps(
    courier: Courier, worker: WorkerPlan, services: Services, db_conn: psycopg.Connection
) -> None:
    limits = worker.limits
    assert limits.max_input_tokens is not None
    assert limits.max_output_tokens is not None
    step(worker).seed_oversized(
        db_conn, "big", "overflowing words " * limits.max_input_tokens, now=NOW, webhook_base=WEBHOOKS
    )
    seed(db_conn, worker, chunk_size(worker))
    tick(courier, worker, new_message_id())
    url = services.public_base_url + worker.route
    answers = deliver_published(courier, published_to(services.qstash, url), worker.route)
    assert {r.status_code for r in answers} == {200}
    calls = services.azure.calls
    assert calls
    assert {call.max_tokens for call in calls} == {limits.max_output_tokens}
    largest = max(calls, key=lambda call: call.prompt_tokens)
    assert "overflowing words" in json.dumps(largest.messages)  # the oversized prompt was sent, cut
    assert all(call.prompt_tokens <= limits.max_input_tokens for call in calls)
    assert all(token_ceiling(call.messages) <= limits.max_input_tokens for call in calls)  # type: ignore[arg-type]


def test_a_model_slower_than_the_deadline_ends_as_a_retry_not_a_stuck_job(
    app_for: Callable[[Plan], Courier],
    plan: Plan,
    worker: WorkerPlan,
    services: Services,
    db_conn: psycopg.Connection,
) -> None:
    deadline = 3  # seconds: room for a whole chunk of the stand-in's calls once the model answers again
    courier = app_for(with_limits(plan, worker.name, message_deadline_seconds=deadline))
    seed(db_conn, worker, chunk_size(worker))
    tick(courier, worker, new_message_id())
    (chunk,) = published_to(services.qstash, services.public_base_url + worker.route)
    services.azure.hold_requests()  # the model does not answer
    started = time.monotonic()
    cut_off = courier.deliver(worker.route, chunk.body, message_id=chunk.message_id)
    assert deadline <= time.monotonic() - started < deadline + 2
    assert cut_off.status_code == 500
    assert cut_off.json()["retryable"] is True
    assert "deadline" in cut_off.json()["error"]
    assert rows(db_conn, "SELECT state, retryable FROM jobs WHERE message_id = %s", chunk.message_id) == [
        ("failed", True)
    ]
    wait_until_no_job_lock(db_conn)
    assert scalar(db_conn, "SELECT count(*) FROM fanout_chunks WHERE done_at IS NOT NULL") == 0
    assert effects(db_conn, worker) == 0

    services.azure.release_requests()  # the model is back: QStash's retry completes the chunk
    retried = courier.deliver(worker.route, chunk.body, message_id=chunk.message_id, retried=1)
    assert retried.status_code == 200, retried.text
    assert rows(db_conn, "SELECT state, runs FROM jobs WHERE message_id = %s", chunk.message_id) == [("done", 2)]
    assert scalar(db_conn, "SELECT count(*) FROM fanout_chunks WHERE done_at IS NOT NULL") == 1
