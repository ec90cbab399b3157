"""Test helpers: deliver messages the way QStash does and read back state."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from devstack.azure_ai import AzureAIStandIn
from devstack.qstash_server import PublishedMessage, QStashStandIn
from devstack.qstash_signer import delivery_headers


@dataclass(frozen=True)
class Services:
    env: dict[str, str]
    database_url: str
    redis_url: str
    s3_endpoint: str
    bucket: str
    azure: AzureAIStandIn
    qstash: QStashStandIn
    current_key: str
    next_key: str
    public_base_url: str


def encode(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Courier:
    """Sends signed deliveries to an app (TestClient or a live server's httpx.Client)."""

    def __init__(self, client: Any, services: Services) -> None:
        self.client = client
        self.services = services

    def deliver(
        self,
        route: str,
        payload: Any = None,
        *,
        message_id: str | None = None,
        retried: int = 0,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = encode({} if payload is None else payload)
        signed = delivery_headers(
            body,
            self.services.public_base_url + route,
            key or self.services.current_key,
            message_id=message_id or new_message_id(),
            retried=retried,
        )
        response: httpx.Response = self.client.post(route, content=body, headers={**signed, **(headers or {})})
        return response

    def post_raw(self, route: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        response: httpx.Response = self.client.post(route, content=body, headers=headers)
        return response


def published_to(qstash: QStashStandIn, url: str) -> list[PublishedMessage]:
    """The messages the stand-in accepted for one destination URL, in publish order."""
    return [message for message in qstash.published if message.destination == url]


def deliver_published(courier: Courier, messages: list[PublishedMessage], route: str) -> list[httpx.Response]:
    """Delivers published messages to the app as QStash would: the body as published, the message's own id."""
    return [courier.deliver(route, message.body, message_id=message.message_id) for message in messages]


def rows(conn: psycopg.Connection, query: str, *params: Any) -> list[tuple[Any, ...]]:
    return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def scalar(conn: psycopg.Connection, query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


def failure_callback_body(
    source_message_id: str, url: str, *, source_body: bytes = b'{"id": "src-1"}'
) -> dict[str, Any]:
    """The body QStash sends to the failure-callback URL once a message's retries are exhausted."""
    return {
        "status": 500,
        "header": {"Content-Type": ["application/json"]},
        "body": base64.b64encode(b'{"status":"failed","error":"model down"}').decode(),
        "retried": 3,
        "maxRetries": 3,
        "dlqId": "1725323658779-0",
        "sourceMessageId": source_message_id,
        "topicName": "",
        "endpointName": "",
        "url": url,
        "method": "POST",
        "sourceHeader": {"Content-Type": ["application/json"]},
        "sourceBody": base64.b64encode(source_body).decode(),
        "notBefore": "1725323658",
        "createdAt": "1725323658",
        "scheduleId": "",
        "callerIP": "127.0.0.1",
    }


@contextmanager
def row_locked(database_url: str, message_id: str) -> Iterator[psycopg.Connection]:
    """Holds a row lock on one `jobs` row from another session until the block ends.

    The failure callback's effect updates the source message's job row after recording the failed
    message, so a delivery blocks here mid-job with part of its transaction written and uncommitted:
    a worker-independent way to catch a job while it runs (to deliver a copy, kill it, or cut it off).
    """
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT 1 FROM jobs WHERE message_id = %s FOR UPDATE", (message_id,))
        try:
            yield conn
        finally:
            conn.rollback()


def blocked_backends(conn: psycopg.Connection, timeout: float = 20.0, expected: int = 1) -> list[int]:
    """Waits until `expected` sessions wait for a lock; returns their process ids."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ]
        if len(pids) >= expected:
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pids)} session(s) wait for a lock, expected {expected}")
        time.sleep(0.02)


def wait_until_no_job_lock(conn: psycopg.Connection, timeout: float = 20.0) -> None:
    """Waits until no session holds a job's advisory lock (a killed runner's session has ended)."""
    deadline = time.monotonic() + timeout
    while scalar(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"):
        if time.monotonic() > deadline:
            raise AssertionError("a job lock is still held")
        time.sleep(0.02)
