"""Redis (or Valkey) client: delivery dedupe keys and short-lived caches.

On AWS the cache requires its AUTH token (over TLS): REDIS_URL names the endpoint only and the token comes
from the stack's generated secret (REDIS_AUTH_SECRET_ARN), read when the first connection opens and kept in
memory. A connection refused at AUTH reads the token again (a rotation; at most once per the plan's interval)
and the command is sent once more. Locally REDIS_URL carries the password of the local server, if any.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.credentials import CredentialProvider

from app.secrets import SecretReader
from app.settings import Settings


class TokenCredentials(CredentialProvider):
    """The AUTH token for every new connection, from the secret (redis-py asks at each connect)."""

    def __init__(self, reader: SecretReader) -> None:
        self._reader = reader

    def get_credentials(self) -> tuple[str]:
        return (self._reader.value(),)

    def refused(self) -> bool:
        """After the server refused the token: read it again; True when it changed (worth a retry)."""
        used = self._reader.value()
        return self._reader.reread(used) != used


class AuthRetryingRedis(redis.Redis):
    """A command whose connection was refused at AUTH is sent once more after the token is read again."""

    def __init__(self, *, connection_pool: redis.ConnectionPool, credentials: TokenCredentials | None) -> None:
        super().__init__(connection_pool=connection_pool)
        self._credentials = credentials

    def execute_command(self, *args: Any, **options: Any) -> Any:
        # redis-py's execute_command carries no annotations: every command goes through it.
        try:
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except redis.AuthenticationError:
            if self._credentials is None or not self._credentials.refused():
                raise
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def create_redis(settings: Settings, token_reader: SecretReader | None = None) -> redis.Redis:
    credentials = TokenCredentials(token_reader) if token_reader is not None else None
    pool = redis.ConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
        decode_responses=True,
        credential_provider=credentials,
    )
    return AuthRetryingRedis(connection_pool=pool, credentials=credentials)
