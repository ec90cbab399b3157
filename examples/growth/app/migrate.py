"""Applies `migrations/*.sql` in name order, each once, recorded in `schema_migrations`.

Run: `python -m app.migrate`. Safe to run concurrently (an advisory lock serialises runners) and
repeatedly (applied files are skipped).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 7_461_012_004  # arbitrary constant shared by every runner of this service


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def apply_migrations(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    applied: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, sha256 text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0]: row[1] for row in conn.execute("SELECT name, sha256 FROM schema_migrations")}
            for path in migration_files(directory):
                sql = path.read_text(encoding="utf-8")
                digest = hashlib.sha256(sql.encode()).hexdigest()
                if path.name in done:
                    if done[path.name] != digest:
                        print(
                            f"warning: {path.name} changed after it was applied",
                            file=sys.stderr,
                        )
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (name, sha256) VALUES (%s, %s)",
                        (path.name, digest),
                    )
                applied.append(path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def main() -> None:
    from app.settings import get_settings

    applied = apply_migrations(get_settings().database_url.get_secret_value())
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


if __name__ == "__main__":
    main()
