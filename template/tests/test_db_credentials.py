"""Database credentials from the secret RDS manages, through a password rotation.

Real services only: moto's Secrets Manager (the session's server on 127.0.0.1) and the session's
PostgreSQL, where a role of this module logs in with a password (scram-sha-256, by a pg_hba.conf line
added for that role alone; every other login stays as the suite set it up). A rotation is what RDS does:
ALTER ROLE ... PASSWORD, then the secret's new value.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from app.db import create_pool, database_credentials
from app.db_credentials import DatabaseCredentials, DatabaseCredentialsError
from app.migrate import migration_files
from app.plan import Plan
from app.settings import Settings
from tests.helpers import Services

ROLE = "rotation_app"  # a role and database of this module only
REGION = "us-east-1"


@pytest.fixture(scope="module")
def role_url(services: Services) -> Iterator[str]:
    """A DATABASE_URL without credentials (as the stack sets it) for ROLE's own database."""
    with psycopg.connect(services.database_url, autocommit=True) as admin:
        hba = Path(str(admin.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        original = hba.read_text(encoding="utf-8")
        admin.execute(f"DROP DATABASE IF EXISTS {ROLE} WITH (FORCE)")
        admin.execute(f"DROP ROLE IF EXISTS {ROLE}")
        admin.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{secrets.token_hex(16)}'")
        admin.execute(f"CREATE DATABASE {ROLE} OWNER {ROLE}")
        # pg_hba.conf: the first matching line wins, so this one applies to ROLE and to nothing else.
        hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n{original}", encoding="utf-8")
        admin.execute("SELECT pg_reload_conf()")
        try:
            server = conninfo_to_dict(services.database_url)
            yield f"postgresql://{server['host']}:{server['port']}/{ROLE}"
        finally:
            hba.write_text(original, encoding="utf-8")
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(f"DROP DATABASE IF EXISTS {ROLE} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.fixture
def secretsmanager(services: Services, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The app builds its own client from the environment: boto3 sends it to moto through AWS_ENDPOINT_URL.
    monkeypatch.setenv("AWS_ENDPOINT_URL", services.s3_endpoint)
    return boto3.client("secretsmanager", region_name=REGION, endpoint_url=services.s3_endpoint)


def set_password(services: Services, password: str) -> None:
    """What RDS does to the database when it rotates the secret."""
    with psycopg.connect(services.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(password)))


def create_secret(sm: Any, password: str, *, username: str = ROLE) -> str:
    value = json.dumps({"username": username, "password": password})
    return str(sm.create_secret(Name=f"rds!{secrets.token_hex(4)}", SecretString=value)["ARN"])


def on_aws(settings: Settings, role_url: str, secret_arn: str) -> Settings:
    """The settings a function on AWS has: the stack's DATABASE_URL and DATABASE_SECRET_ARN."""
    return settings.model_copy(update={"database_url": SecretStr(role_url), "database_secret_arn": secret_arn})


def current_user(credentials: DatabaseCredentials) -> str:
    with credentials.connect(lambda conninfo: psycopg.connect(conninfo)) as conn:
        return str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]


def test_the_secrets_password_logs_in_and_the_secret_is_read_once(
    services: Services, settings: Settings, role_url: str, secretsmanager: Any
) -> None:
    password = secrets.token_urlsafe(24) + "@:/ '"  # characters a URL would need quoted
    set_password(services, password)
    credentials = database_credentials(on_aws(settings, role_url, create_secret(secretsmanager, password)))

    assert [current_user(credentials) for _ in range(3)] == [ROLE] * 3
    assert credentials.secret_reads == 1  # cached: one GetSecretValue per process, not per connection
    assert conninfo_to_dict(credentials.conninfo())["password"] == password


def test_a_rotated_password_is_read_again_once_and_the_pool_reconnects(
    services: Services, settings: Settings, plan: Plan, role_url: str, secretsmanager: Any
) -> None:
    before = secrets.token_urlsafe(24)
    set_password(services, before)
    arn = create_secret(secretsmanager, before)
    credentials = database_credentials(on_aws(settings, role_url, arn))
    pool = create_pool(
        on_aws(settings, role_url, arn).model_copy(update={"database_pool_min_size": 1, "database_pool_max_size": 2}),
        database=plan.database,
        credentials=credentials,
    )
    pool.open(wait=True, timeout=10)
    try:
        with pool.connection() as conn:
            assert conn.execute("SELECT current_user").fetchone() == (ROLE,)
        assert credentials.secret_reads == 1

        after = secrets.token_urlsafe(24)
        set_password(services, after)
        secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": ROLE, "password": after}))

        # Open sessions outlive the rotation; a new login fails once, reads the secret again and succeeds.
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert current_user(credentials) == ROLE
        assert credentials.secret_reads == 2
        # The pool's next connection (its session ended, as a frozen Lambda's does) uses the new password.
        with psycopg.connect(services.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
        pool.check()
        with pool.connection(timeout=10) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (ROLE,)
        assert credentials.secret_reads == 2
    finally:
        pool.close()


def test_a_fresh_process_after_a_rotation_needs_no_retry(
    services: Services, settings: Settings, role_url: str, secretsmanager: Any
) -> None:
    arn = create_secret(secretsmanager, "old")
    set_password(services, rotated := secrets.token_urlsafe(24))
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": ROLE, "password": rotated}))
    credentials = database_credentials(on_aws(settings, role_url, arn))
    assert current_user(credentials) == ROLE
    assert credentials.secret_reads == 1


def test_a_wrong_secret_fails_with_a_clear_error_after_one_re_read(
    services: Services, settings: Settings, role_url: str, secretsmanager: Any
) -> None:
    set_password(services, secrets.token_urlsafe(24))
    arn = create_secret(secretsmanager, "not-the-password")
    credentials = database_credentials(on_aws(settings, role_url, arn))

    with pytest.raises(DatabaseCredentialsError, match="rejected the password from secret") as failure:
        current_user(credentials)
    assert arn in str(failure.value)
    assert "did not change" in str(failure.value)
    assert "not-the-password" not in str(failure.value)
    assert credentials.secret_reads == 2  # read once, then once more after the rejection, and no more


def test_an_unreadable_or_malformed_secret_is_named(settings: Settings, role_url: str, secretsmanager: Any) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:rds!nothing-AbCdEf"
    with pytest.raises(DatabaseCredentialsError, match=r"cannot read database secret .*ResourceNotFoundException"):
        database_credentials(on_aws(settings, role_url, missing)).conninfo()

    arn = str(secretsmanager.create_secret(Name="rds!malformed", SecretString='{"user": "x"}')["ARN"])
    with pytest.raises(DatabaseCredentialsError, match="not a JSON object with username and password"):
        database_credentials(on_aws(settings, role_url, arn)).conninfo()


def test_without_a_secret_database_url_works_alone(services: Services, settings: Settings) -> None:
    assert settings.database_secret_arn == ""
    credentials = database_credentials(settings)
    assert credentials.conninfo() == services.database_url
    with credentials.connect(lambda conninfo: psycopg.connect(conninfo)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert credentials.secret_reads == 0


def test_the_cron_lambdas_migrations_log_in_through_the_secret(
    services: Services, role_url: str, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops.tasks import handler

    set_password(services, password := secrets.token_urlsafe(24))
    # The cron function's environment as the stack sets it; deploy.sh adds no database credentials.
    monkeypatch.setenv("DATABASE_URL", role_url)
    monkeypatch.setenv("DATABASE_SECRET_ARN", create_secret(secretsmanager, password))

    result = handler({"task": "migrate"}, None)

    assert result["ok"] is True
    with psycopg.connect(make_conninfo(role_url, user=ROLE, password=password)) as conn:
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    assert done == {path.name for path in migration_files()}
