"""Correctly signed bad input is a permanent error: 489 with Upstash-NonRetryable-Error and a JSON body, the
job recorded `failed` (never left `running`), no effect. Recording a failure never fails the delivery.

Every route parses its body the same way, so the shape cases run against the failure-callback route (every
render has it) and every worker route of the plan; each worker's own tests cover its fields' ranges.
"""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
import redis

from app.db import create_pool
from app.errors import PermanentJobError
from app.jobs import JobResult, Outcome, run_once
from app.plan import Plan, load_plan
from app.settings import DEFAULT_PLAN_PATH, Settings
from devstack.qstash_signer import sign
from tests.helpers import Courier, Services, failure_callback_body, new_message_id, rows, scalar

PLAN = load_plan(DEFAULT_PLAN_PATH)
# Each route with the largest body it accepts.
ROUTES = {
    PLAN.qstash.failure_callback_route: PLAN.qstash.max_body_bytes,
    **{w.route: w.limits.max_payload_bytes for w in PLAN.workers},
}
DEPTH = 10_000
# Deeper than CPython's default recursion limit (1,000), which bounds its JSON parser.
DEEP_ENOUGH = 2_000
SHAPES = {"array": (b"[", b"", b"]"), "object": (b'{"a":', b"1", b"}")}


def _nested(shape: str, depth: int) -> bytes:
    opening, leaf, closing = SHAPES[shape]
    return opening * depth + leaf + closing * depth


def _assert_permanent(response: Any, error: str) -> None:
    assert response.status_code == 489, response.text
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "failed", "retryable": False, "error": error}


def _job(db_conn: psycopg.Connection, message_id: str) -> list[tuple[Any, ...]]:
    return rows(db_conn, "SELECT state, retryable, error FROM jobs WHERE message_id = %s", message_id)


def _no_effect(db_conn: psycopg.Connection) -> None:
    """Nothing but the job rows was written (the workers' tables and the failure log stay empty)."""
    tables = [
        row[0]
        for row in db_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if row[0] not in ("jobs", "schema_migrations", "used_signatures")
    ]
    written = {table: scalar(db_conn, f'SELECT count(*) FROM "{table}"') for table in tables}
    assert {table: count for table, count in written.items() if count} == {}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_json_nested_ten_thousand_deep_is_permanent(
    shape: str, route: str, courier: Courier, db_conn: psycopg.Connection
) -> None:
    message_id = new_message_id()
    body = _nested(shape, DEPTH)
    response = courier.deliver(route, body, message_id=message_id)
    if len(body) > ROUTES[route]:
        # Refused by size before anything runs.
        assert response.status_code == 489
        assert response.headers["Upstash-NonRetryable-Error"] == "true"
        assert response.json() == {"error": f"body larger than {ROUTES[route]} bytes"}
        assert _job(db_conn, message_id) == []
    else:
        _assert_permanent(response, "invalid payload: nested too deeply")
        assert _job(db_conn, message_id) == [("failed", False, "invalid payload: nested too deeply")]
    _no_effect(db_conn)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_the_deepest_json_a_route_accepts_is_permanent(
    route: str, courier: Courier, db_conn: psycopg.Connection
) -> None:
    """As deep as the route's size limit allows (arrays nest deepest per byte)."""
    depth = min(DEPTH, ROUTES[route] // 2)
    assert depth >= DEEP_ENOUGH, f"{route} accepts too little to nest {DEEP_ENOUGH} deep"
    message_id = new_message_id()
    response = courier.deliver(route, _nested("array", depth), message_id=message_id)
    _assert_permanent(response, "invalid payload: nested too deeply")
    assert _job(db_conn, message_id) == [("failed", False, "invalid payload: nested too deeply")]
    _no_effect(db_conn)


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize(
    ("text", "problem"),
    [("a\u0000b", "contains a NUL character"), ("a\ud800b", "contains a lone surrogate (not UTF-8)")],
)
def test_text_the_database_cannot_hold_is_permanent(
    text: str, problem: str, route: str, courier: Courier, db_conn: psycopg.Connection
) -> None:
    """Valid JSON (`\\u0000`, a lone `\\ud800`), but no text column can store it."""
    message_id = new_message_id()
    body = json.dumps({"sourceMessageId": "m", "url": "https://x.test/", "note": {"tags": ["ok", text]}}).encode()
    response = courier.deliver(route, body, message_id=message_id)
    _assert_permanent(response, f"invalid payload: note.tags.1: {problem}")
    assert _job(db_conn, message_id) == [("failed", False, f"invalid payload: note.tags.1: {problem}")]
    _no_effect(db_conn)


def test_a_nul_in_a_key_is_reported_storably(courier: Courier, db_conn: psycopg.Connection) -> None:
    message_id = new_message_id()
    response = courier.deliver(PLAN.qstash.failure_callback_route, {"bad\u0000key": "x"}, message_id=message_id)
    _assert_permanent(response, "invalid payload: bad\\x00key: contains a NUL character")
    assert _job(db_conn, message_id) == [("failed", False, "invalid payload: bad\\x00key: contains a NUL character")]


def test_a_nul_in_the_failure_callbacks_url_is_permanent(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection
) -> None:
    body = failure_callback_body(new_message_id(), "https://workers.example.test/x\u0000y")
    response = courier.deliver(plan.qstash.failure_callback_route, body)
    _assert_permanent(response, "invalid payload: url: contains a NUL character")
    _no_effect(db_conn)


def test_a_source_body_with_nul_bytes_is_recorded_readably(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection
) -> None:
    """The failed message's bytes are whatever was published: the record keeps them, NUL and non-UTF-8 bytes
    shown as U+FFFD, instead of losing the dead letter."""
    source = new_message_id()
    body = failure_callback_body(source, "https://workers.example.test/x", source_body=b"a\x00b\xffc")
    body["body"] = base64.b64encode(b"last\x00answer").decode()
    response = courier.deliver(plan.qstash.failure_callback_route, body)
    assert response.status_code == 200, response.text
    recorded = rows(
        db_conn, "SELECT source_body, response_body FROM failed_messages WHERE source_message_id = %s", source
    )
    assert recorded == [("a\ufffdb\ufffdc", "last\ufffdanswer")]


def test_a_signed_body_that_is_not_utf8_is_permanent(
    courier: Courier, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    body = b'{"sourceMessageId": "\xff\xfe"}'
    url = services.public_base_url + PLAN.qstash.failure_callback_route
    headers = {"Upstash-Signature": sign(body, url, services.current_key), "Upstash-Message-Id": new_message_id()}
    response = courier.post_raw(PLAN.qstash.failure_callback_route, body, headers)
    assert response.status_code == 489
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    assert response.json() == {"error": "invalid payload", "detail": "body is not UTF-8"}
    # Nothing ran: no job row, no dedupe key.
    assert scalar(db_conn, "SELECT count(*) FROM jobs") == 0
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s, body, url: sign(body, url, "sig_attacker_key_000000000000000000"), id="wrong_key"),
        pytest.param(lambda s, body, url: sign(b"other bytes", url, s.current_key), id="other_body"),
        pytest.param(lambda s, body, url: sign(body, url + "x", s.current_key), id="other_url"),
        pytest.param(lambda s, body, url: sign(body, url, s.current_key, now=0), id="expired"),
    ],
)
def test_a_forged_body_that_is_not_utf8_is_still_401(
    forge: Any, courier: Courier, services: Services, db_conn: psycopg.Connection
) -> None:
    body = b'{"sourceMessageId": "\xff\xfe"}'
    url = services.public_base_url + PLAN.qstash.failure_callback_route
    headers = {"Upstash-Signature": forge(services, body, url), "Upstash-Message-Id": new_message_id()}
    response = courier.post_raw(PLAN.qstash.failure_callback_route, body, headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid signature"
    assert scalar(db_conn, "SELECT count(*) FROM jobs") == 0


def _run(settings: Settings, plan: Plan, effect: Any) -> tuple[JobResult, str]:
    """One job through the exactly-once protocol on a pool of the app's own kind."""
    pool = create_pool(settings, database=plan.database)
    pool.open(wait=True, timeout=10)
    message_id = new_message_id()
    try:
        return run_once(pool, message_id=message_id, worker="w", retried=0, effect=effect), message_id
    finally:
        pool.close()


def test_an_error_text_with_nul_is_recorded_escaped(
    settings: Settings, plan: Plan, db_conn: psycopg.Connection
) -> None:
    def effect(conn: psycopg.Connection) -> dict[str, Any]:
        raise PermanentJobError("video a\u0000b not found")

    result, message_id = _run(settings, plan, effect)
    assert (result.outcome, result.retryable, result.error) == (Outcome.FAILED, False, "video a\\x00b not found")
    assert _job(db_conn, message_id) == [("failed", False, "video a\\x00b not found")]


@pytest.mark.parametrize(
    ("raised", "name"),
    [
        (lambda conn: conn.execute("SELECT %s::text", ("a\u0000b",)), "DataError"),
        (lambda conn: conn.execute("SELECT '5874897-12-31'::date + 1"), "DatetimeFieldOverflow"),
        (lambda conn: date.max + timedelta(days=1), "OverflowError"),
    ],
)
def test_errors_the_same_input_raises_again_are_not_retryable(
    raised: Any, name: str, settings: Settings, plan: Plan, db_conn: psycopg.Connection
) -> None:
    def effect(conn: psycopg.Connection) -> dict[str, Any]:
        raised(conn)
        return {}

    result, message_id = _run(settings, plan, effect)
    assert (result.outcome, result.retryable) == (Outcome.FAILED, False)
    assert str(result.error).startswith(f"{name}: ")
    assert _job(db_conn, message_id)[0][:2] == ("failed", False)


def test_a_failure_that_cannot_be_stored_still_settles_the_job(
    settings: Settings, plan: Plan, db_conn: psycopg.Connection
) -> None:
    """The database refuses the first record of the error (a real trigger): the job still ends `failed`."""
    db_conn.execute(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.error LIKE '%%boom%%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
    )
    db_conn.execute("CREATE TRIGGER refuse_boom BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_boom()")
    try:

        def effect(conn: psycopg.Connection) -> dict[str, Any]:
            raise PermanentJobError("boom")

        result, message_id = _run(settings, plan, effect)
    finally:
        db_conn.execute("DROP TRIGGER refuse_boom ON jobs")
        db_conn.execute("DROP FUNCTION refuse_boom()")
    assert (result.outcome, result.retryable, result.error) == (Outcome.FAILED, False, "boom")
    assert _job(db_conn, message_id) == [("failed", False, "the error could not be recorded; see the log")]
    assert scalar(db_conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


def test_unsigned_headers_out_of_range_are_handled(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    """Upstash-Message-Id and Upstash-Retried are not signed: bounded before they reach the database."""
    route = plan.qstash.failure_callback_route
    too_long = courier.deliver(route, {"sourceMessageId": "m"}, message_id="m" * 5000)
    assert too_long.status_code == 489
    assert too_long.headers["Upstash-NonRetryable-Error"] == "true"
    assert too_long.json() == {"error": "Upstash-Message-Id must be at most 200 printable characters"}
    assert scalar(db_conn, "SELECT count(*) FROM jobs") == 0

    message_id = new_message_id()
    body = failure_callback_body(new_message_id(), "https://workers.example.test/x")
    huge = courier.deliver(route, body, message_id=message_id, headers={"Upstash-Retried": "9" * 100})
    assert (huge.status_code, huge.json()["status"]) == (200, "done")
    assert rows(db_conn, "SELECT state, attempts FROM jobs WHERE message_id = %s", message_id) == [("done", 2**31 - 1)]
