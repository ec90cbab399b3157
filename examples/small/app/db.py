"""PostgreSQL connection pool (psycopg 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from app.aws import AwsClients
from app.db_credentials import DatabaseCredentials
from app.plan import DatabasePlan
from app.settings import Settings


def database_credentials(settings: Settings, aws: Callable[[], AwsClients] | None = None) -> DatabaseCredentials:
    """DATABASE_URL, with the user and password of DATABASE_SECRET_ARN's secret when it is set (on AWS)."""
    return DatabaseCredentials(
        settings.database_url.get_secret_value(),
        settings.database_secret_arn,
        timeout_seconds=settings.database_connect_timeout_seconds,
        aws=aws,
    )


def session_options(database: DatabasePlan) -> str:
    """The plan's session settings as libpq `options`: the session's defaults from its first statement on
    (so `RESET` returns to them), in one round trip with the login."""
    settings = {
        "statement_timeout": database.statement_timeout_ms,
        "lock_timeout": database.lock_timeout_ms,
        "idle_in_transaction_session_timeout": database.idle_in_transaction_session_timeout_ms,
        # The server's side of the connection: a client gone silent is noticed during a lock wait too.
        "tcp_keepalives_idle": database.keepalives_idle_seconds,
        "tcp_keepalives_interval": database.keepalives_interval_seconds,
        "tcp_keepalives_count": database.keepalives_count,
        "tcp_user_timeout": database.tcp_user_timeout_ms,
        "client_connection_check_interval": database.client_connection_check_interval_ms,
    }
    return " ".join(f"-c {name}={int(value)}" for name, value in settings.items())


def connection_kwargs(settings: Settings, database: DatabasePlan) -> dict[str, Any]:
    """libpq parameters of every pooled connection: the client's side of the keepalives and the session."""
    return {
        "connect_timeout": max(1, int(settings.database_connect_timeout_seconds)),
        "keepalives": 1,
        "keepalives_idle": database.keepalives_idle_seconds,
        "keepalives_interval": database.keepalives_interval_seconds,
        "keepalives_count": database.keepalives_count,
        "tcp_user_timeout": database.tcp_user_timeout_ms,
        "options": session_options(database),
    }


def create_pool(
    settings: Settings, *, database: DatabasePlan, credentials: DatabaseCredentials | None = None
) -> ConnectionPool:
    creds = credentials or database_credentials(settings)

    def _configure(conn: psycopg.Connection) -> None:
        # Bookkeeping statements commit on their own; effects run inside explicit transactions.
        conn.autocommit = True

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
        kwargs=connection_kwargs(settings, database),
        configure=_configure,
        timeout=settings.database_connect_timeout_seconds,
        open=False,
        name="app",
    )
