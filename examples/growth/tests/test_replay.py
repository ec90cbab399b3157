"""A captured, valid QStash request replayed under a new Upstash-Message-Id is refused until its token expires;
the same token with its own message id stays an ordinary duplicate. PostgreSQL decides when Redis forgot."""

from __future__ import annotations

import base64
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis

from app.plan import Plan
from app.replay import ReplayGuard
from app.resources import LazyResources
from app.settings import Settings
from app.signature import VerifiedToken
from devstack.qstash_signer import TOKEN_LIFETIME_SECONDS, sign
from tests.helpers import Courier, Services, failure_callback_body, new_message_id, rows, scalar


def _captured(plan: Plan, services: Services, db_conn: psycopg.Connection) -> tuple[bytes, dict[str, str]]:
    """A delivery as an eavesdropper would have recorded it: body and headers, token included."""
    source = new_message_id()
    db_conn.execute(
        "INSERT INTO jobs (message_id, worker, state, attempts, error, retryable)"
        " VALUES (%s, %s, 'failed', 3, 'model down', true)",
        (source, plan.workers[0].name),
    )
    body = failure_callback_body(source, f"https://workers.example.test{plan.workers[0].route}")
    raw = json.dumps(body).encode()
    url = services.public_base_url + plan.qstash.failure_callback_route
    headers = {
        "Upstash-Signature": sign(raw, url, services.current_key),
        "Upstash-Message-Id": new_message_id(),
        "Upstash-Retried": "0",
        "Content-Type": "application/json",
    }
    return raw, headers


def _jti(headers: dict[str, str]) -> str:
    claims = headers["Upstash-Signature"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["jti"])


def test_a_replay_under_a_new_message_id_is_refused(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    route = plan.qstash.failure_callback_route
    raw, headers = _captured(plan, services, db_conn)
    first = courier.post_raw(route, raw, headers)
    assert (first.status_code, first.json()["status"]) == (200, "done")

    replay = courier.post_raw(route, raw, {**headers, "Upstash-Message-Id": new_message_id()})
    assert replay.status_code == 401
    assert replay.json() == {"error": "invalid signature", "detail": "signature already used by another message"}
    # The job ran once: one job row for the callback, one failed message recorded.
    assert scalar(db_conn, "SELECT count(*) FROM jobs WHERE worker = 'failure_callback'") == 1
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1

    # The same token with its own message id is a duplicate delivery, answered as such.
    again = courier.post_raw(route, raw, headers)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")


def test_postgres_refuses_the_replay_after_redis_forgot(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    route = plan.qstash.failure_callback_route
    raw, headers = _captured(plan, services, db_conn)
    assert courier.post_raw(route, raw, headers).status_code == 200
    redis_client.flushall()
    replay = courier.post_raw(route, raw, {**headers, "Upstash-Message-Id": new_message_id()})
    assert replay.status_code == 401
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1


def test_the_token_is_remembered_until_it_expires(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    route = plan.qstash.failure_callback_route
    tolerance = plan.qstash.signature_clock_tolerance_seconds
    raw, headers = _captured(plan, services, db_conn)
    signed_at = int(time.time())
    assert courier.post_raw(route, raw, headers).status_code == 200
    jti = _jti(headers)
    ttl = redis_client.ttl(f"{plan.project.slug}:qstash:jti:{jti}")
    assert TOKEN_LIFETIME_SECONDS + tolerance - 5 <= ttl <= TOKEN_LIFETIME_SECONDS + tolerance
    ((message_id, expires_at),) = rows(db_conn, "SELECT message_id, expires_at FROM used_signatures")
    assert message_id == headers["Upstash-Message-Id"]
    expected = datetime.fromtimestamp(signed_at + TOKEN_LIFETIME_SECONDS + tolerance, UTC)
    assert abs(expires_at - expected) <= timedelta(seconds=1)


def test_expired_tokens_are_pruned_by_later_writes(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    db_conn.execute(
        "INSERT INTO used_signatures (jti, message_id, expires_at)"
        " SELECT 'old-' || n, 'm-' || n, now() - interval '1 hour' FROM generate_series(1, 10) AS n"
    )
    raw, headers = _captured(plan, services, db_conn)
    assert courier.post_raw(plan.qstash.failure_callback_route, raw, headers).status_code == 200
    # Each first sighting deletes up to 8 expired rows: 2 of the 10 are left, and the new token is kept.
    assert scalar(db_conn, "SELECT count(*) FROM used_signatures WHERE expires_at < now()") == 2
    assert scalar(db_conn, "SELECT count(*) FROM used_signatures WHERE expires_at > now()") == 1


def test_a_token_without_an_id_is_refused(
    courier: Courier, plan: Plan, services: Services, db_conn: psycopg.Connection
) -> None:
    raw, headers = _captured(plan, services, db_conn)
    url = services.public_base_url + plan.qstash.failure_callback_route
    headers["Upstash-Signature"] = sign(raw, url, services.current_key, drop_claims=("jti",))
    response = courier.post_raw(plan.qstash.failure_callback_route, raw, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature", "detail": "signature claims incomplete"}
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 0


@pytest.fixture
def unreachable_redis() -> redis.Redis:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, decode_responses=True)


def test_without_redis_the_database_alone_decides(
    settings: Settings, plan: Plan, unreachable_redis: redis.Redis, db_conn: psycopg.Connection
) -> None:
    holder = LazyResources(settings, plan)
    try:
        guard = ReplayGuard(
            unreachable_redis,
            holder.get().pool,
            plan.project.slug,
            clock_tolerance_seconds=plan.qstash.signature_clock_tolerance_seconds,
        )
        verified = VerifiedToken(jti="jwt_replayed", expires_at=int(time.time()) + 60)
        assert guard.admit(verified, "msg_first") is True
        assert guard.admit(verified, "msg_first") is True
        assert guard.admit(verified, "msg_second") is False
    finally:
        holder.close()
    assert rows(db_conn, "SELECT jti, message_id FROM used_signatures") == [("jwt_replayed", "msg_first")]
