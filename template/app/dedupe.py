"""Redis fast path for duplicate deliveries: `SET key running NX EX ttl`, then `done` once committed.

Redis only saves work; PostgreSQL (app/jobs.py) decides. So a Redis outage or flush degrades to the
database check instead of failing or doubling anything.
"""

from __future__ import annotations

import logging
from typing import Literal

import redis

log = logging.getLogger(__name__)

Seen = Literal["new", "done", "unsettled"]


class DeliveryDeduper:
    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._prefix = prefix

    def _key(self, message_id: str) -> str:
        return f"{self._prefix}:qstash:msg:{message_id}"

    def claim(self, message_id: str) -> Seen:
        """`new`: first sighting. `done`: finished before. `unsettled`: seen, outcome unknown (running,
        crashed or failed): the database must decide."""
        try:
            if self._redis.set(self._key(message_id), "running", nx=True, ex=self._ttl):
                return "new"
            return "done" if self._redis.get(self._key(message_id)) == "done" else "unsettled"
        except redis.RedisError as exc:
            log.warning(
                "dedupe cache unavailable, relying on the database: %s",
                type(exc).__name__,
            )
            return "unsettled"

    def mark_done(self, message_id: str) -> None:
        try:
            self._redis.set(self._key(message_id), "done", ex=self._ttl)
        except redis.RedisError as exc:
            log.warning("could not mark delivery done in cache: %s", type(exc).__name__)
