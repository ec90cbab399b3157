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
from app.errors import PermanentJobError
from app.jobs import Outcome, UsageLog, run_once
from app.resources import Resources
from app.signature import InvalidSignatureError

log = logging.getLogger(__name__)

NON_RETRYABLE_STATUS = 489
NON_RETRYABLE_HEADER = {"Upstash-NonRetryable-Error": "true"}


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
            retried = max(0, int(headers.get("upstash-retried", "0")))
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
        return model.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise PermanentJobError(f"invalid payload: {_short(exc)}") from exc


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())[:500]
    return str(exc)[:500]


def deliver(resources: Resources, delivery: Delivery, *, worker: str, body: JobBody) -> Answer:
    try:
        resources.verifier.verify(signature=delivery.signature, body=delivery.body, url=delivery.url)
    except InvalidSignatureError as exc:
        return Answer(401, {"error": "invalid signature", "detail": str(exc)})
    if not delivery.message_id:
        return Answer(
            NON_RETRYABLE_STATUS,
            {"error": "missing Upstash-Message-Id"},
            NON_RETRYABLE_HEADER,
        )

    message_id = delivery.message_id
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
        usage=usage,
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
    if outcome.retryable:
        return Answer(500, {"status": "failed", "retryable": True, "error": outcome.error})
    return Answer(
        NON_RETRYABLE_STATUS,
        {"status": "failed", "retryable": False, "error": outcome.error},
        NON_RETRYABLE_HEADER,
    )


def _run_after_commit(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:
        log.exception("after-commit action failed")
