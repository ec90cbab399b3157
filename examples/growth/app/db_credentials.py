"""PostgreSQL credentials: DATABASE_URL alone, or its host and database with the user and password read
from the Secrets Manager secret RDS manages (DATABASE_SECRET_ARN) when a connection is opened.

RDS rotates that password (every 7 days by default) without telling anyone, so nothing may freeze it:
the secret is read once per process (one GetSecretValue per Lambda container, on its first connection),
kept in memory, and read again only when PostgreSQL rejects the password; the connection is then retried
once with the fresh value. Connections already open survive a rotation (PostgreSQL checks passwords only
at login), so a warm container pays nothing until it opens a new one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.conninfo import make_conninfo

from app.aws import AwsClients, AwsError
from app.secrets import SecretSource, secrets_manager_client

T = TypeVar("T")

# invalid_password / invalid_authorization_specification, when libpq reports a SQLSTATE at all.
_AUTH_SQLSTATES = {"28P01", "28000"}


class DatabaseCredentialsError(psycopg.OperationalError):
    """The credentials cannot work: the secret is unreadable or malformed, or PostgreSQL rejects it.

    An OperationalError, so whoever handles a failed connection (the pool's retries, /health) handles it.
    """


def is_authentication_failure(exc: BaseException) -> bool:
    """PostgreSQL refused the login itself (wrong password or user), not the network or the server state."""
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, DatabaseCredentialsError):
        return False
    # libpq usually reports login failures without a SQLSTATE: the server's message is what identifies them.
    return exc.sqlstate in _AUTH_SQLSTATES or "password authentication failed" in str(exc)


class DatabaseCredentials:
    """Resolves the connection string to use, and opens connections with one re-read after a rejected login."""

    def __init__(
        self,
        database_url: str,
        secret_arn: str = "",
        *,
        timeout_seconds: float = 5.0,
        client: SecretSource | None = None,
        aws: Callable[[], AwsClients] | None = None,
    ) -> None:
        self.database_url = database_url
        self.secret_arn = secret_arn
        self._timeout_seconds = timeout_seconds
        self._client = client
        self._aws = aws  # the process's AWS clients (app.resources): one connection pool for every secret and S3
        self._conninfo: str | None = None
        self._reads = 0
        self._lock = threading.Lock()

    @property
    def secret_reads(self) -> int:
        """How many times the secret was read (a rotation costs one more)."""
        return self._reads

    def conninfo(self) -> str:
        """The connection string, with the secret's user and password when there is a secret (cached)."""
        if not self.secret_arn:
            return self.database_url
        with self._lock:
            if self._conninfo is None:
                self._conninfo = self._read_secret()
            return self._conninfo

    def connect(self, open_connection: Callable[[str], T]) -> T:
        """`open_connection(conninfo)`; when the login is rejected, read the secret again and retry once."""
        used = self.conninfo()
        try:
            return open_connection(used)
        except psycopg.OperationalError as exc:
            if not self.secret_arn or not is_authentication_failure(exc):
                raise
        fresh = self._refresh(used)
        try:
            return open_connection(fresh)
        except psycopg.OperationalError as exc:
            if is_authentication_failure(exc):
                changed = "changed but is still rejected" if fresh != used else "did not change"
                raise DatabaseCredentialsError(
                    f"PostgreSQL rejected the password from secret {self.secret_arn}: it was read again after "
                    f"the first rejection and {changed} (check the secret's value, or wait for a rotation "
                    f"in progress to finish): {exc}"
                ) from exc
            raise

    def _refresh(self, rejected: str) -> str:
        with self._lock:
            # Another thread may have read the new value already: one re-read per rotation, not per thread.
            if self._conninfo is None or self._conninfo == rejected:
                self._conninfo = self._read_secret()
            return self._conninfo

    def _read_secret(self) -> str:
        self._reads += 1
        try:
            if self._client is None:
                aws = self._aws() if self._aws is not None else None
                self._client = secrets_manager_client(self.secret_arn, self._timeout_seconds, aws)
            raw = self._client.get_secret_string(self.secret_arn)
        except AwsError as exc:
            raise DatabaseCredentialsError(f"cannot read database secret {self.secret_arn}: {exc.code}") from exc
        try:
            secret = json.loads(raw)
            user, password = str(secret["username"]), str(secret["password"])
        except (ValueError, TypeError, KeyError) as exc:
            raise DatabaseCredentialsError(
                f"database secret {self.secret_arn} is not a JSON object with username and password"
            ) from exc
        # RDS-managed secrets hold only the user and password; secrets of the rotation templates also name
        # the server, which then wins over DATABASE_URL's.
        server = {key: str(secret[key]) for key in ("host", "port", "dbname") if secret.get(key)}
        return make_conninfo(self.database_url, user=user, password=password, **server)
