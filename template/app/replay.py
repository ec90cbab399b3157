"""Refuses a QStash signature replayed under another message id.

Upstash-Message-Id is not part of the signature, so a captured request (token and body) could be sent again
with a new message id and run its job again while the token is valid. Each token carries a unique id, `jti`
("Security", https://upstash.com/docs/qstash/features/security, read 2026-11-25): the first delivery that
shows a token binds its `jti` to its message id until the token expires. The same token with the same message
id is an ordinary duplicate (the job protocol answers it); with another message id it is refused.

Redis (`SET NX` with the token's remaining lifetime) answers a known replay without a database round trip;
the `used_signatures` table is the source of truth, written on every first sighting, so a Redis outage or
flush lets no replay through. Expired rows are pruned a few at a time by the writes themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from psycopg_pool import ConnectionPool

from app.signature import VerifiedToken

log = logging.getLogger(__name__)

# Expired rows each first sighting deletes: more than one per write, so the table shrinks to the tokens still
# valid however bursty the traffic was.
_PRUNE_PER_WRITE = 8


class ReplayGuard:
    def __init__(
        self,
        client: redis.Redis,
        pool: ConnectionPool,
        prefix: str,
        *,
        clock_tolerance_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._pool = pool
        self._prefix = prefix
        # A token stays acceptable this long past its `exp` (app/signature.py), so it is remembered as long.
        self._tolerance = clock_tolerance_seconds
        self._clock = clock

    def _key(self, jti: str) -> str:
        return f"{self._prefix}:qstash:jti:{jti}"

    def admit(self, verified: VerifiedToken, message_id: str) -> bool:
        """True when this signature token has not been seen with another message id."""
        expires_at = verified.expires_at + self._tolerance
        ttl = max(1, int(expires_at - self._clock()))
        try:
            if not self._redis.set(self._key(verified.jti), message_id, nx=True, ex=ttl):
                seen = self._redis.get(self._key(verified.jti))
                if seen is not None and seen != message_id:
                    return False
        except redis.RedisError as exc:
            log.warning("replay cache unavailable, relying on the database: %s", type(exc).__name__)
        return self._bound_message(verified.jti, message_id, expires_at) == message_id

    def _bound_message(self, jti: str, message_id: str, expires_at: int) -> str:
        """The message id the database binds this token to (this one, on a first sighting)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "WITH pruned AS (DELETE FROM used_signatures WHERE jti IN (SELECT jti FROM used_signatures"
                " WHERE expires_at < now() ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED))"
                " INSERT INTO used_signatures (jti, message_id, expires_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (jti) DO UPDATE SET jti = EXCLUDED.jti RETURNING message_id",
                (_PRUNE_PER_WRITE, jti, message_id, datetime.fromtimestamp(expires_at, UTC)),
            ).fetchone()
        return str(row[0]) if row else ""
