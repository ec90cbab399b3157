"""Migrations apply once, in order, and re-running them is a no-op."""

from __future__ import annotations

import re

import psycopg

from app.migrate import apply_migrations, migration_files
from tests.helpers import Services, rows

_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def test_migrations_are_recorded_and_idempotent(services: Services, db_conn: psycopg.Connection) -> None:
    names = [path.name for path in migration_files()]
    assert names[0] == "0001_core.sql"
    assert rows(db_conn, "SELECT name FROM schema_migrations ORDER BY name") == [(n,) for n in names]
    assert apply_migrations(services.database_url) == []
    assert rows(db_conn, "SELECT count(*) FROM schema_migrations") == [(len(names),)]


def test_a_fresh_database_gets_every_table(services: Services, db_conn: psycopg.Connection) -> None:
    db_conn.execute("DROP DATABASE IF EXISTS migrate_fresh")
    db_conn.execute("CREATE DATABASE migrate_fresh")
    url = services.database_url.rsplit("/", 1)[0] + "/migrate_fresh"
    assert apply_migrations(url) == [path.name for path in migration_files()]
    with psycopg.connect(url) as fresh:
        tables = {r[0] for r in fresh.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    declared = {name for path in migration_files() for name in _CREATE_TABLE.findall(path.read_text())}
    assert {"jobs", "ai_usage", "failed_messages"} <= declared  # the core every worker relies on
    assert tables == declared | {"schema_migrations"}
    db_conn.execute("DROP DATABASE migrate_fresh")
