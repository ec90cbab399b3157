"""Loopback stand-in for the QStash REST API: enough of `/v2/publish` and `/v2/schedules` for the real
`qstash` SDK (pointed here through `base_url`) to publish messages and manage schedules.

It records what was published instead of delivering it. Publishing honours `Upstash-Deduplication-Id`
the way QStash does (same id, same message id, `deduplicated: true`).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from devstack.http_standin import JsonHandler, LoopbackServer


@dataclass
class PublishedMessage:
    message_id: str
    destination: str
    body: bytes
    headers: dict[str, str]


class QStashStandIn(LoopbackServer):
    def __init__(self, token: str) -> None:
        super().__init__(_Handler)
        self.token = token
        self.published: list[PublishedMessage] = []
        self.schedules: dict[str, dict[str, Any]] = {}
        self._dedupe: dict[str, str] = {}
        self._clock = 0
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.published.clear()
            self.schedules.clear()
            self._dedupe.clear()

    def tick(self) -> int:
        self._clock += 1
        return self._clock


def _upstash_headers(headers: Any, prefix: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith(prefix)}


class _Handler(JsonHandler):
    @property
    def standin(self) -> QStashStandIn:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.standin.token}":
            return True
        self.send_json(401, {"error": "unauthorized"})
        return False

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.read_body()
        if not self._authorised():
            return
        if self.path.startswith("/v2/publish/"):
            self._publish(unquote(self.path.removeprefix("/v2/publish/")), body)
        elif self.path.startswith("/v2/schedules/"):
            self._create_schedule(unquote(self.path.removeprefix("/v2/schedules/")), body)
        else:
            self.send_json(404, {"error": "not found"})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if not self._authorised():
            return
        standin = self.standin
        with standin.lock:
            if self.path == "/v2/schedules":
                self.send_json(200, list(standin.schedules.values()))
                return
            schedule_id = self.path.removeprefix("/v2/schedules/")
            if schedule_id in standin.schedules:
                self.send_json(200, standin.schedules[schedule_id])
                return
        self.send_json(404, {"error": "schedule not found"})

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        if not self._authorised():
            return
        schedule_id = self.path.removeprefix("/v2/schedules/")
        with self.standin.lock:
            self.standin.schedules.pop(schedule_id, None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _publish(self, destination: str, body: bytes) -> None:
        standin = self.standin
        dedupe_id = self.headers.get("Upstash-Deduplication-Id")
        with standin.lock:
            if dedupe_id and dedupe_id in standin._dedupe:
                self.send_json(201, {"messageId": standin._dedupe[dedupe_id], "deduplicated": True})
                return
            message_id = f"msg_{uuid.uuid4().hex}"
            if dedupe_id:
                standin._dedupe[dedupe_id] = message_id
            standin.published.append(
                PublishedMessage(
                    message_id=message_id,
                    destination=destination,
                    body=body,
                    headers=_upstash_headers(self.headers, "upstash-"),
                )
            )
        self.send_json(201, {"messageId": message_id})

    def _create_schedule(self, destination: str, body: bytes) -> None:
        standin = self.standin
        headers = self.headers
        with standin.lock:
            schedule_id = headers.get("Upstash-Schedule-Id") or f"scd_{uuid.uuid4().hex}"
            standin.schedules[schedule_id] = {
                "scheduleId": schedule_id,
                "destination": destination,
                "cron": headers.get("Upstash-Cron", ""),
                "createdAt": standin.tick(),
                "method": headers.get("Upstash-Method", "POST"),
                "retries": int(headers.get("Upstash-Retries", "3")),
                "timeout": _seconds(headers.get("Upstash-Timeout")),
                "failureCallback": headers.get("Upstash-Failure-Callback"),
                "body": body.decode() if body else None,
                "isPaused": False,
            }
        self.send_json(200, {"scheduleId": schedule_id})


def _seconds(value: str | None) -> int | None:
    return int(value.rstrip("s")) if value else None
