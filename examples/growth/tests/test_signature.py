"""Every route verifies the QStash signature against the raw body and its configured public URL, with the
plan's clock tolerance for a token that is due a little later than the worker's clock says."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import psycopg
import pytest
import redis
from qstash import Receiver
from qstash.errors import SignatureError

from app.plan import Plan, load_plan
from app.settings import DEFAULT_PLAN_PATH, Settings
from app.signature import InvalidSignatureError, SignatureVerifier
from devstack.qstash_signer import sign
from tests.helpers import Courier, Services, new_message_id, scalar

PLAN = load_plan(DEFAULT_PLAN_PATH)
# The failure-callback route exists whatever subset of workers the plan keeps.
ROUTE = PLAN.qstash.failure_callback_route
BODY = b'{"sourceMessageId": "msg_source", "url": "https://workers.example.test/workers/x", "status": 500}'


def _unsigned_token() -> str:
    """A JWT with `alg: none` and no signature, the classic attempt to skip verification."""

    def part(claims: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'iss': 'Upstash'})}."


def _headers(signature: str | None) -> dict[str, str]:
    headers = {"Upstash-Message-Id": new_message_id(), "Upstash-Retried": "0", "Content-Type": "application/json"}
    if signature is not None:
        headers["Upstash-Signature"] = signature
    return headers


def _assert_nothing_happened(db_conn: psycopg.Connection, redis_client: redis.Redis) -> None:
    assert scalar(db_conn, "SELECT count(*) FROM jobs") == 0
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 0
    assert redis_client.dbsize() == 0


def _url(services: Services, route: str = ROUTE) -> str:
    return services.public_base_url + route


FORGERIES: dict[str, Callable[[Services], str | None]] = {
    "missing": lambda s: None,
    "malformed": lambda s: "not-a-jwt",
    "expired": lambda s: sign(BODY, _url(s), s.current_key, now=time.time() - 600),
    "not_yet_valid": lambda s: sign(BODY, _url(s), s.current_key, now=time.time() + 600),
    "tampered_body": lambda s: sign(BODY.replace(b"500", b"501"), _url(s), s.current_key),
    "wrong_url": lambda s: sign(BODY, _url(s, "/workers/other"), s.current_key),
    "internal_host_url": lambda s: sign(BODY, "http://internal.test" + ROUTE, s.current_key),
    "wrong_key": lambda s: sign(BODY, _url(s), "sig_attacker_key_000000000000000000"),
    "wrong_issuer": lambda s: sign(BODY, _url(s), s.current_key, claims={"iss": "Mallory"}),
    "no_body_claim": lambda s: sign(BODY, _url(s), s.current_key, drop_claims=("body",)),
    "no_exp_claim": lambda s: sign(BODY, _url(s), s.current_key, drop_claims=("exp",)),
    "unsigned_alg_none": lambda s: _unsigned_token(),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forged_requests_get_401_and_change_nothing(
    case: str, courier: Courier, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    response = courier.post_raw(ROUTE, BODY, _headers(FORGERIES[case](services)))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid signature"
    _assert_nothing_happened(db_conn, redis_client)


def test_every_worker_route_requires_a_signature(
    courier: Courier, plan: Plan, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    for worker in plan.workers:
        response = courier.post_raw(worker.route, b"{}", _headers(None))
        assert response.status_code == 401
    _assert_nothing_happened(db_conn, redis_client)


def test_current_key_is_accepted(courier: Courier, services: Services, db_conn: psycopg.Connection) -> None:
    response = courier.post_raw(ROUTE, BODY, _headers(sign(BODY, _url(services), services.current_key)))
    assert response.status_code == 200, response.text
    assert scalar(db_conn, "SELECT state FROM jobs") == "done"


def test_next_key_is_accepted_during_rotation(
    courier: Courier, services: Services, db_conn: psycopg.Connection
) -> None:
    response = courier.post_raw(ROUTE, BODY, _headers(sign(BODY, _url(services), services.next_key)))
    assert response.status_code == 200, response.text
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1


def test_oversized_body_is_refused_before_anything_runs(
    courier: Courier, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    body = b'{"sourceMessageId": "m", "pad": "' + b"x" * PLAN.qstash.max_body_bytes + b'"}'
    response = courier.post_raw(ROUTE, body, _headers(sign(body, _url(services), services.current_key)))
    assert response.status_code == 489
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    _assert_nothing_happened(db_conn, redis_client)


def test_signed_request_without_message_id_is_rejected(
    courier: Courier, services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis
) -> None:
    headers = {"Upstash-Signature": sign(BODY, _url(services), services.current_key)}
    response = courier.post_raw(ROUTE, BODY, headers)
    assert response.status_code == 489
    _assert_nothing_happened(db_conn, redis_client)


TOLERANCE = PLAN.qstash.signature_clock_tolerance_seconds
# QStash's clock ahead of ours by up to this many seconds: the token's nbf/iat are in our future.
EARLY = 2


def _early_token(services: Services, seconds: float, key: str | None = None) -> str:
    return sign(BODY, _url(services), key or services.current_key, now=time.time() + seconds)


def test_the_sdk_alone_ignores_clock_tolerance(services: Services) -> None:
    """Why app.signature waits: qstash 3.4.0 passes the tolerance where PyJWT does not read it. When this
    fails, the SDK honours `clock_tolerance` and the wait in app.signature can go."""
    receiver = Receiver(current_signing_key=services.current_key, next_signing_key=services.next_key)
    with pytest.raises(SignatureError):
        receiver.verify(
            signature=_early_token(services, EARLY), body=BODY.decode(), url=_url(services), clock_tolerance=TOLERANCE
        )


def test_a_token_due_within_the_tolerance_is_accepted_once_due(
    courier: Courier, services: Services, db_conn: psycopg.Connection
) -> None:
    assert TOLERANCE >= EARLY, "the plan's tolerance covers a clock two seconds behind QStash's"
    started = time.monotonic()
    response = courier.post_raw(ROUTE, BODY, _headers(_early_token(services, EARLY)))
    assert response.status_code == 200, response.text
    # nbf is a whole second: the token was due between EARLY - 1 and EARLY seconds after signing.
    assert time.monotonic() - started >= EARLY - 1
    assert scalar(db_conn, "SELECT count(*) FROM failed_messages") == 1


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("beyond_tolerance", lambda s: _early_token(s, TOLERANCE + 60)),
        ("forged_and_early", lambda s: _early_token(s, EARLY, key="sig_attacker_key_000000000000000000")),
        ("expired_beyond_tolerance", lambda s: _early_token(s, -(300 + TOLERANCE + 60))),
    ],
)
def test_other_tokens_are_rejected_without_waiting(
    case: str, token: Callable[[Services], str], services: Services, settings: Settings
) -> None:
    waits: list[float] = []
    verifier = SignatureVerifier(settings, clock_tolerance_seconds=TOLERANCE, sleep=waits.append)
    with pytest.raises(InvalidSignatureError):
        verifier.verify(signature=token(services), body=BODY, url=_url(services))
    assert waits == []


def test_a_wait_is_followed_by_one_more_receiver_check(services: Services, settings: Settings) -> None:
    """The wait is a gate, not a verdict: a token early by little but for another URL stays refused."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    verifier = SignatureVerifier(settings, clock_tolerance_seconds=TOLERANCE, sleep=sleep)
    token = sign(BODY, _url(services, "/workers/other"), services.current_key, now=time.time() + EARLY)
    with pytest.raises(InvalidSignatureError):
        verifier.verify(signature=token, body=BODY, url=_url(services))
    assert len(waits) == 1
    assert 0 < waits[0] <= EARLY
    # The token is due now: the refusal after the wait came from the URL, not from the clock.
    assert verifier.seconds_early(token) is None
