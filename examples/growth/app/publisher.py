"""QStash API client for outgoing messages and schedules, and the flow control every message to the workers carries.

Flow control bounds the deliveries in flight under one key, whatever the URL ("Flow Control",
https://upstash.com/docs/qstash/features/flowcontrol, read 2026-11-25: headers `Upstash-Flow-Control-Key`
and `Upstash-Flow-Control-Value: parallelism=N`; the limit is per key, not per URL; messages over it wait,
they are not rejected). Every schedule and message to a worker carries the plan's key and parallelism (the
workers' reserved concurrency), so concurrency and database connections stay bounded even when the account
cannot reserve concurrency for the function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from qstash import QStash
from qstash.errors import DailyMessageLimitExceededError, QStashError, RateLimitExceededError
from qstash.message import BatchJsonRequest, FlowControl

from app.plan import Plan
from app.secrets import AppSecrets
from app.settings import Settings

T = TypeVar("T")


def create_qstash(settings: Settings, token: str | None = None) -> QStash:
    # The SDK's own retry loop would hide failures inside a job; the job's retry is QStash's delivery retry.
    return QStash(
        settings.qstash_token.get_secret_value() if token is None else token,
        retry=False,
        base_url=settings.qstash_url,
    )


class QStashClients:
    """The QStash client for the current token (the app secret's on AWS, read on first use).

    QStash answers a refused token with an error the SDK raises as a plain QStashError (no status to read),
    so after any QStashError but a rate limit `call` asks for the token again (a re-read at most once per the
    plan's interval, app/secrets.py) and, when it changed (a rotation), sends the request once more with it.
    """

    def __init__(self, settings: Settings, secrets: AppSecrets) -> None:
        self._settings = settings
        self._secrets = secrets
        self._clients: dict[str, QStash] = {}
        self._lock = threading.Lock()

    def client(self) -> QStash:
        token = self._secrets.get("QSTASH_TOKEN")
        with self._lock:
            if token not in self._clients:
                self._clients = {token: create_qstash(self._settings, token)}  # the old token's client is dropped
            return self._clients[token]

    def call(self, action: Callable[[QStash], T]) -> T:
        token = self._secrets.get("QSTASH_TOKEN")
        try:
            return action(self.client())
        except (RateLimitExceededError, DailyMessageLimitExceededError):
            raise  # QStash accepted the token
        except QStashError:
            if not self._secrets.refresh({"QSTASH_TOKEN": token}):
                raise
        return action(self.client())


def worker_flow_control(plan: Plan) -> FlowControl:
    return {"key": plan.qstash.flow_control.key, "parallelism": plan.qstash.flow_control.parallelism}


def _worker_message(plan: Plan, base: str, route: str, body: Any, deduplication_id: str | None) -> BatchJsonRequest:
    """A message to a worker route with the plan's retries, timeout, failure callback and flow control."""
    message: BatchJsonRequest = {
        "url": f"{base}{route}",
        "body": body,
        "retries": plan.qstash.retries,
        "timeout": plan.qstash.timeout_seconds,
        "failure_callback": f"{base}{plan.qstash.failure_callback_route}",
        "flow_control": worker_flow_control(plan),
    }
    if deduplication_id is not None:
        message["deduplication_id"] = deduplication_id
    return message


def publish_to_worker(
    client: QStash,
    plan: Plan,
    public_base_url: str,
    route: str,
    body: Any,
    *,
    deduplication_id: str | None = None,
) -> str:
    """Publishes one job to a worker route with the plan's retries, timeout, failure callback and flow control;
    returns the message id (the same id again for a deduplicated publish)."""
    message = _worker_message(plan, public_base_url.rstrip("/"), route, body, deduplication_id)
    published: Any = client.message.publish_json(
        url=message["url"],
        body=message["body"],
        retries=message["retries"],
        timeout=message["timeout"],
        failure_callback=message["failure_callback"],
        deduplication_id=deduplication_id,
        flow_control=message["flow_control"],
    )
    return str(published.message_id)


@dataclass(frozen=True)
class Published:
    message_id: str
    deduplicated: bool  # QStash already had a message with this deduplication id: nothing new was queued


def publish_batch_to_worker(
    client: QStash,
    plan: Plan,
    public_base_url: str,
    route: str,
    messages: Sequence[tuple[Any, str]],
) -> list[Published]:
    """Publishes (body, deduplication id) jobs to a worker route, `fanout.publish_batch_size` per request
    (QStash's batch API: one request, one answer per message, in order), each with the options of
    `publish_to_worker`. A batch that fails raises QStashError; the batches before it stay published, and
    publishing them again is harmless: QStash drops a repeated deduplication id."""
    base = public_base_url.rstrip("/")
    size = plan.fanout.publish_batch_size
    published: list[Published] = []
    for start in range(0, len(messages), size):
        batch = [_worker_message(plan, base, route, body, dedupe) for body, dedupe in messages[start : start + size]]
        try:
            answers = client.message.batch_json(batch)
        except KeyError as exc:
            # QStash answers a message of a batch it refused with an error instead of a message id ("Batching",
            # https://upstash.com/docs/qstash/features/batch, read 2026-11-25: the others are still sent); the
            # SDK then finds no `messageId`. Publishing the batch again is safe (deduplication ids).
            raise QStashError(f"a message of the batch was not accepted: {exc}") from exc
        for answer in answers:
            if isinstance(answer, list):  # a URL group's answer; worker routes are single URLs
                raise TypeError("a worker route answered as a URL group")
            published.append(Published(str(answer.message_id), bool(answer.deduplicated)))
    return published
