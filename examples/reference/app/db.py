"""PostgreSQL connection pool (psycopg 3)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from app.db_credentials import DatabaseCredentials
from app.settings import Settings


def database_credentials(settings: Settings) -> DatabaseCredentials:
    """DATABASE_URL, with the user and password of DATABASE_SECRET_ARN's secret when it is set (on AWS)."""
    return DatabaseCredentials(
        settings.database_url.get_secret_value(),
        settings.database_secret_arn,
        timeout_seconds=settings.database_connect_timeout_seconds,
    )


def create_pool(
    settings: Settings, *, job_timeout_seconds: int, credentials: DatabaseCredentials | None = None
) -> ConnectionPool:
    # A frozen or killed Lambda can leave its session open; ending sessions idle inside a transaction
    # for longer than any job may run frees its job lock for QStash's retry.
    idle_limit_ms = (job_timeout_seconds + 30) * 1000
    creds = credentials or database_credentials(settings)

    def _configure(conn: psycopg.Connection) -> None:
        # Bookkeeping statements commit on their own; effects run inside explicit transactions.
        conn.autocommit = True
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle_limit_ms)}")

    class _Connection(psycopg.Connection[Any]):
        """Every new pooled connection logs in with the current credentials (the secret survives rotation)."""

        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:  # type: ignore[override]
            return creds.connect(lambda current: super(_Connection, cls).connect(current, **kwargs))

    return ConnectionPool(
        # The pool hands this to _Connection.connect, which ignores it in favour of the credentials.
        conninfo="",
        connection_class=_Connection,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        kwargs={
            "connect_timeout": max(1, int(settings.database_connect_timeout_seconds)),
            "keepalives": 1,
            "keepalives_idle": 30,
        },
        configure=_configure,
        timeout=settings.database_connect_timeout_seconds,
        open=False,
        name="app",
    )
