"""One QStash delivery, from raw request to HTTP answer: signature, dedupe, exactly-once job run.

Answers follow QStash's semantics: 2xx = done (also for duplicates), 489 + Upstash-NonRetryable-Error
= give up now (DLQ), anything else = deliver again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pydantic import BaseModel, ValidationError

from app.dedupe import DeliveryDeduper
from app.deferred import record_deferred
from app.errors import PermanentJobError
from app.jobs import Outcome, UsageLog, printable, run_once
from app.replay import ReplayGuard
from app.resources import Resources
from app.signature import InvalidSignatureError, UndecodableBodyError

log = logging.getLogger(__name__)

NON_RETRYABLE_STATUS = 489
NON_RETRYABLE_HEADER = {"Upstash-NonRetryable-Error": "true"}
_PG_INTEGER_MAX = 2**31 - 1
# Upstash-Message-Id is not signed: anything but a short printable id (QStash's look like `msg_...`) is refused
# before it reaches a primary key (a btree entry must fit in a third of a page).
_MESSAGE_ID_MAX_CHARS = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    url: str
    signature: str | None
    message_id: str | None
    retried: int

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], body: bytes, url: str) -> Delivery:
        try:
            # Not signed, so only trusted as far as `jobs.attempts` (a PostgreSQL integer) can hold it.
            retried = min(max(0, int(headers.get("upstash-retried", "0"))), _PG_INTEGER_MAX)
        except ValueError:
            retried = 0
        return cls(
            body=body,
            url=url,
            signature=headers.get("upstash-signature"),
            message_id=headers.get("upstash-message-id"),
            retried=retried,
        )


# A job body: parsed payload in, effects written through the context's connection, result out.
JobBody = Callable[[psycopg.Connection, UsageLog, list[Callable[[], None]]], dict[str, Any]]


def parse_payload(body: bytes, model: type[BaseModel]) -> BaseModel:
    try:
        data = json.loads(body) if body.strip() else {}
    except RecursionError:
        raise PermanentJobError("invalid payload: nested too deeply") from None
    except ValueError as exc:
        raise PermanentJobError(f"invalid payload: {_short(exc)}") from exc
    problem = unstorable_text(data)
    if problem:
        raise PermanentJobError(f"invalid payload: {problem}")
    try:
        return model.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise PermanentJobError(f"invalid payload: {_short(exc)}") from exc


# A JSON location as a linked list (parent, key): built per value in O(1), spelled out only when reported.
_Path = tuple["_Path", object] | None


def unstorable_text(data: Any) -> str | None:
    """Where the JSON holds text PostgreSQL cannot store: a NUL character (text columns refuse it) or a lone
    surrogate (`\\ud800` is valid JSON but not encodable as UTF-8). Walked with a stack, not recursion."""
    stack: list[tuple[_Path, Any]] = [(None, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append(((path, key), key))
                stack.append(((path, key), item))
        elif isinstance(value, list):
            stack.extend(((path, index), item) for index, item in enumerate(value))
        elif isinstance(value, str):
            if "\x00" in value:
                return f"{_spell(path)}: contains a NUL character"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{_spell(path)}: contains a lone surrogate (not UTF-8)"
    return None


def _spell(path: _Path) -> str:
    keys: list[str] = []
    while path is not None:
        path, key = path
        keys.append(str(key))
    spelled = ".".join(reversed(keys)) or "body"
    # The keys may hold the very characters being reported: escape them, so the message itself is storable.
    return printable(spelled[:200])


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())[:500]
    return str(exc)[:500]


def deliver(resources: Resources, delivery: Delivery, *, worker: str, body: JobBody) -> Answer:
    try:
        token = resources.verifier.verify(signature=delivery.signature, body=delivery.body, url=delivery.url)
    except InvalidSignatureError as exc:
        return Answer(401, {"error": "invalid signature", "detail": str(exc)})
    except UndecodableBodyError as exc:
        # Signed by QStash, so a retry would carry the same bytes: give up now (401 would be retried).
        return Answer(NON_RETRYABLE_STATUS, {"error": "invalid payload", "detail": str(exc)}, NON_RETRYABLE_HEADER)
    if not delivery.message_id:
        return Answer(
            NON_RETRYABLE_STATUS,
            {"error": "missing Upstash-Message-Id"},
            NON_RETRYABLE_HEADER,
        )
    if len(delivery.message_id) > _MESSAGE_ID_MAX_CHARS or not delivery.message_id.isprintable():
        return Answer(
            NON_RETRYABLE_STATUS,
            {"error": f"Upstash-Message-Id must be at most {_MESSAGE_ID_MAX_CHARS} printable characters"},
            NON_RETRYABLE_HEADER,
        )

    message_id = delivery.message_id
    replays = ReplayGuard(
        resources.redis,
        resources.pool,
        resources.plan.project.slug,
        clock_tolerance_seconds=resources.plan.qstash.signature_clock_tolerance_seconds,
    )
    if not replays.admit(token, message_id):
        return Answer(401, {"error": "invalid signature", "detail": "signature already used by another message"})
    deduper = DeliveryDeduper(
        resources.redis,
        resources.plan.qstash.dedupe_ttl_seconds,
        resources.plan.project.slug,
    )
    if deduper.claim(message_id) == "done":
        return Answer(200, {"status": "duplicate", "message_id": message_id})

    usage = UsageLog(worker=worker, message_id=message_id)
    after_commit: list[Callable[[], None]] = []
    outcome = run_once(
        resources.pool,
        message_id=message_id,
        worker=worker,
        retried=delivery.retried,
        effect=lambda conn: body(conn, usage, after_commit),
    )
    if outcome.outcome is Outcome.DONE:
        for action in after_commit:
            _run_after_commit(action)
        deduper.mark_done(message_id)
        return Answer(200, {"status": "done", "message_id": message_id, "result": outcome.result})
    if outcome.outcome is Outcome.DUPLICATE:
        deduper.mark_done(message_id)
        return Answer(200, {"status": "duplicate", "message_id": message_id})
    if outcome.outcome is Outcome.IN_PROGRESS:
        # Another delivery of this message is running. Not 2xx: if that run fails, this one must retry.
        return Answer(
            409,
            {"status": "in_progress", "message_id": message_id},
            {"Retry-After": "15"},
        )
    if outcome.outcome is Outcome.BUDGET_EXHAUSTED:
        return _deferred(resources, delivery, message_id, worker, outcome.error)
    if outcome.retryable:
        return Answer(500, {"status": "failed", "retryable": True, "error": outcome.error})
    return Answer(
        NON_RETRYABLE_STATUS,
        {"status": "failed", "retryable": False, "error": outcome.error},
        NON_RETRYABLE_HEADER,
    )


def _deferred(resources: Resources, delivery: Delivery, message_id: str, worker: str, error: str | None) -> Answer:
    """A job the spend guard refused: kept for `python -m app.deferred --replay`, and answered non-retryable so
    QStash does not spend its retries on a budget that stays exhausted until it is raised or the month ends."""
    try:
        record_deferred(resources.pool, message_id=message_id, worker=worker, url=delivery.url, body=delivery.body)
    except Exception:
        # Not kept, so not given up on: QStash delivers it again, and the retry records it.
        log.exception("could not keep deferred job %s", message_id)
        return Answer(500, {"status": "budget_exhausted", "retryable": True, "error": error})
    return Answer(
        NON_RETRYABLE_STATUS,
        {"status": "budget_exhausted", "retryable": False, "message_id": message_id, "error": error},
        NON_RETRYABLE_HEADER,
    )


def _run_after_commit(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:
        log.exception("after-commit action failed")
