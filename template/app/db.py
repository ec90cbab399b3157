"""PostgreSQL connection pool (psycopg 3)."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from app.settings import Settings


def create_pool(settings: Settings, *, job_timeout_seconds: int) -> ConnectionPool:
    # A frozen or killed Lambda can leave its session open; ending sessions idle inside a transaction
    # for longer than any job may run frees its job lock for QStash's retry.
    idle_limit_ms = (job_timeout_seconds + 30) * 1000

    def _configure(conn: psycopg.Connection) -> None:
        # Bookkeeping statements commit on their own; effects run inside explicit transactions.
        conn.autocommit = True
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle_limit_ms)}")

    return ConnectionPool(
        conninfo=settings.database_url.get_secret_value(),
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
