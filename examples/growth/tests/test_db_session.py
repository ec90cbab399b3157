"""Every database session runs under the plan's limits (app/plan.json `database`): a runner that died while
its session waited on a lock does not keep the message's job lock, and a lock wait ends in a retryable answer."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
from fastapi.testclient import TestClient

from app.api import create_app
from app.health import check_health
from app.plan import Plan
from app.resources import LazyResources
from app.settings import Settings
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


def _expected(plan: Plan) -> dict[str, str]:
    db = plan.database
    return {
        "statement_timeout": str(db.statement_timeout_ms),
        "lock_timeout": str(db.lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(db.idle_in_transaction_session_timeout_ms),
        "tcp_keepalives_idle": str(db.keepalives_idle_seconds),
        "tcp_keepalives_interval": str(db.keepalives_interval_seconds),
        "tcp_keepalives_count": str(db.keepalives_count),
        "tcp_user_timeout": str(db.tcp_user_timeout_ms),
        "client_connection_check_interval": str(db.client_connection_check_interval_ms),
    }


def _session_settings(conn: psycopg.Connection, names: list[str]) -> dict[str, str]:
    return dict(rows(conn, "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", names))  # type: ignore[arg-type]


def test_sessions_run_under_the_plans_limits_even_after_a_health_check(settings: Settings, plan: Plan) -> None:
    # A statement must never outlive the workers' Lambda: its timeout is the plan's (the function's).
    assert plan.database.statement_timeout_ms == plan.qstash.timeout_seconds * 1000
    one = settings.model_copy(update={"database_pool_min_size": 1, "database_pool_max_size": 1})
    holder = LazyResources(one, plan)
    try:
        resources = holder.get()
        ok, report = check_health(resources)  # shortens statement_timeout for its probe, then resets it
        assert ok, report
        with resources.pool.connection() as conn:
            assert _session_settings(conn, list(_expected(plan))) == _expected(plan)
    finally:
        holder.close()


def _source_job(db_conn: psycopg.Connection, plan: Plan) -> tuple[str, dict[str, object]]:
    source = new_message_id()
    db_conn.execute(
        "INSERT INTO jobs (message_id, worker, state, attempts, error, retryable)"
        " VALUES (%s, %s, 'failed', 3, 'model down', true)",
        (source, plan.workers[0].name),
    )
    return source, failure_callback_body(source, f"https://workers.example.test{plan.workers[0].route}")


def test_a_runner_killed_while_waiting_on_a_lock_frees_its_job_lock(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    """The killed runner's session waits on a row lock that stays held: only the server's check of its client
    ends it, within the plan's interval, so QStash's next retry runs instead of getting 409 until the lock goes."""
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    check_seconds = plan.database.client_connection_check_interval_ms / 1000
    server = AppProcess(env=services.env).start()
    try:
        with (
            ThreadPoolExecutor(1) as pool,
            httpx.Client(base_url=server.url, timeout=60) as http,
            row_locked(services.database_url, source),
        ):
            doomed = pool.submit(Courier(http, services).deliver, route, body, message_id=message_id)
            blocked_backends(db_conn)
            server.kill()
            killed = time.monotonic()
            assert isinstance(doomed.exception(10), httpx.HTTPError)
            # The row lock is still held: the waiting statement cannot have ended by itself.
            wait_until_no_job_lock(db_conn, timeout=check_seconds + 10)
            assert time.monotonic() - killed < plan.database.lock_timeout_ms / 1000
    finally:
        server.kill()
    retry = courier.deliver(route, body, message_id=message_id, retried=1)
    assert (retry.status_code, retry.json()["status"]) == (200, "done")
    assert rows(db_conn, "SELECT state, runs FROM jobs WHERE message_id = %s", message_id) == [("done", 2)]


def test_a_lock_wait_longer_than_the_plan_allows_is_retried(
    settings: Settings, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    short = plan.model_copy(update={"database": plan.database.model_copy(update={"lock_timeout_ms": 300})})
    source, body = _source_job(db_conn, plan)
    message_id = new_message_id()
    route = plan.qstash.failure_callback_route
    with TestClient(create_app(settings, short), base_url="http://internal.test") as client:
        courier = Courier(client, services)
        with row_locked(services.database_url, source):
            waited = courier.deliver(route, body, message_id=message_id)
        assert waited.status_code == 500
        assert "Upstash-NonRetryable-Error" not in waited.headers
        answer = waited.json()
        assert (answer["status"], answer["retryable"]) == ("failed", True)
        assert answer["error"].startswith("LockNotAvailable: canceling statement due to lock timeout")
        assert scalar(db_conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 0
        retry = courier.deliver(route, body, message_id=message_id, retried=1)
    assert (retry.status_code, retry.json()["status"]) == (200, "done")
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1
