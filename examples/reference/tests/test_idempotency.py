"""Exactly-once effects: duplicates, concurrent duplicates, Redis loss, failures and retries, crashes.

These run against the failure-callback route, which every rendered service has whatever workers it
keeps: it goes through the same signature check, Redis dedupe and PostgreSQL job protocol as every
worker route. To catch a job mid-run, the test holds a row lock that the job's transaction needs
(`row_locked`), after the job has written part of its effect. Each worker's own tests cover its effects.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import redis

from app.plan import Plan
from devstack.app_server import AppProcess
from tests.helpers import (
    Courier,
    Services,
    blocked_backends,
    failure_callback_body,
    new_message_id,
    row_locked,
    rows,
    scalar,
    wait_until_no_job_lock,
)


def _source_job(db_conn: psycopg.Connection, plan: Plan) -> tuple[str, dict[str, object]]:
    """A message of a planned worker that QStash gave up on, and the callback body that reports it."""
    worker = plan.workers[0]
    source = new_message_id()
    db_conn.execute(
        "INSERT INTO jobs (message_id, worker, state, attempts, error, retryable)"
        " VALUES (%s, %s, 'failed', 3, 'model down', true)",
        (source, worker.name),
    )
    return source, failure_callback_body(source, f"https://workers.example.test{worker.route}")


def _callback_job(db_conn: psycopg.Connection, message_id: str) -> list[tuple[object, ...]]:
    return rows(db_conn, "SELECT state, runs, attempts, error FROM jobs WHERE message_id = %s", message_id)


def _source_state(db_conn: psycopg.Connection, source: str) -> str:
    return str(scalar(db_conn, "SELECT state || '/' || error FROM jobs WHERE message_id = %s", source))


SETTLED = "failed/model down (retries exhausted)"


def test_sequential_duplicate_runs_nothing_twice(courier: Courier, plan: Plan, db_conn: psycopg.Connection) -> None:
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    first = courier.deliver(route, body, message_id=message_id)
    second = courier.deliver(route, body, message_id=message_id)
    assert (first.status_code, first.json()["status"]) == (200, "done")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert _callback_job(db_conn, message_id) == [("done", 1, 0, None)]
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1
    assert _source_state(db_conn, source) == SETTLED


def test_concurrent_duplicate_is_refused_while_running_then_acknowledged(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    # The pool is left last: the lock must go first, or the pool would wait for a job that waits for it.
    with ThreadPoolExecutor(1) as pool, row_locked(services.database_url, source):
        first = pool.submit(courier.deliver, route, body, message_id=message_id)
        blocked_backends(db_conn)  # the first delivery is mid-job
        concurrent = courier.deliver(route, body, message_id=message_id)
        # Not 2xx: if the running attempt failed, QStash must still deliver this one again.
        assert concurrent.status_code == 409
        assert concurrent.json()["status"] == "in_progress"
    assert first.result(10).status_code == 200
    later = courier.deliver(route, body, message_id=message_id, retried=1)
    assert (later.status_code, later.json()["status"]) == (200, "duplicate")
    assert _callback_job(db_conn, message_id) == [("done", 1, 0, None)]
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1


def test_many_simultaneous_copies_run_once(courier: Courier, plan: Plan, db_conn: psycopg.Connection) -> None:
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    barrier = threading.Barrier(8)

    def send() -> int:
        barrier.wait()
        return courier.deliver(plan.qstash.failure_callback_route, body, message_id=message_id).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: send(), range(8)))
    assert set(statuses) <= {200, 409}
    assert statuses.count(200) >= 1
    assert _callback_job(db_conn, message_id) == [("done", 1, 0, None)]
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1
    assert _source_state(db_conn, source) == SETTLED


def test_redis_flush_then_duplicate_is_caught_by_postgres(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    _, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    assert courier.deliver(route, body, message_id=message_id).status_code == 200
    redis_client.flushall()
    again = courier.deliver(route, body, message_id=message_id, retried=1)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert _callback_job(db_conn, message_id) == [("done", 1, 0, None)]
    assert redis_client.get(f"{plan.project.slug}:qstash:msg:{message_id}") == "done"


def test_connection_lost_mid_job_answers_5xx_and_the_retry_completes(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    with ThreadPoolExecutor(1) as pool, row_locked(services.database_url, source):
        cut = pool.submit(courier.deliver, route, body, message_id=message_id)
        (pid,) = blocked_backends(db_conn)
        # The job's database session dies mid-transaction, as in a failover or a dropped connection.
        db_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        failed = cut.result(10)
    assert failed.status_code == 500
    assert "Upstash-NonRetryable-Error" not in failed.headers
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 0  # rolled back with the session
    assert _source_state(db_conn, source) == "failed/model down"

    retried = courier.deliver(route, body, message_id=message_id, retried=1)
    assert (retried.status_code, retried.json()["status"]) == (200, "done")
    assert _callback_job(db_conn, message_id) == [("done", 2, 1, None)]
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1
    assert _source_state(db_conn, source) == SETTLED


def test_permanent_failure_answers_489_non_retryable(courier: Courier, plan: Plan, db_conn: psycopg.Connection) -> None:
    message_id = new_message_id()
    response = courier.deliver(plan.qstash.failure_callback_route, {"status": 500}, message_id=message_id)
    assert response.status_code == 489
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    assert rows(db_conn, "SELECT state, retryable, error FROM jobs WHERE message_id = %s", message_id) == [
        ("failed", False, "invalid payload: sourceMessageId: Field required")
    ]
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 0


def test_crash_mid_job_then_retry_runs_it_once(
    plan: Plan, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    server = AppProcess(env=services.env).start()
    try:
        with (
            ThreadPoolExecutor(1) as pool,
            httpx.Client(base_url=server.url, timeout=30) as http,
            row_locked(services.database_url, source),
        ):
            doomed = pool.submit(Courier(http, services).deliver, route, body, message_id=message_id)
            blocked_backends(db_conn)
            server.kill()  # mid-job: the effect transaction is open, part-written and uncommitted
            assert isinstance(doomed.exception(10), httpx.HTTPError)
            assert _callback_job(db_conn, message_id) == [("running", 1, 0, None)]
    finally:
        server.kill()
    # The killed runner's session ends on its own once its client is gone; its lock goes with it.
    wait_until_no_job_lock(db_conn)
    assert redis_client.get(f"{plan.project.slug}:qstash:msg:{message_id}") == "running"
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 0
    assert _source_state(db_conn, source) == "failed/model down"

    restarted = AppProcess(env=services.env).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as http:
            retry = Courier(http, services).deliver(route, body, message_id=message_id, retried=1)
            assert (retry.status_code, retry.json()["status"]) == (200, "done")
            duplicate = Courier(http, services).deliver(route, body, message_id=message_id, retried=2)
            assert duplicate.json()["status"] == "duplicate"
    finally:
        restarted.kill()
    assert _callback_job(db_conn, message_id) == [("done", 2, 1, None)]
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1
    assert _source_state(db_conn, source) == SETTLED
