"""Session-wide real services on 127.0.0.1: PostgreSQL, Redis, moto's S3, and the QStash and Azure AI
stand-ins. Each test starts from empty tables, an empty Redis, a fresh bucket and clean stand-ins."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
import requests
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from app.ai import AIService, create_ai_client, deployments
from app.api import create_app
from app.migrate import apply_migrations
from app.plan import Plan, load_plan
from app.settings import DEFAULT_PLAN_PATH, Settings
from devstack.azure_ai import AzureAIStandIn
from devstack.qstash_server import QStashStandIn
from tests.helpers import Courier, Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from devstack.postgres import PostgresUnavailableError, start_postgres
from devstack.redis import start_redis

CURRENT_KEY = "sig_current_test_key_0123456789abcdef"
NEXT_KEY = "sig_next_test_key_9876543210fedcba0"
PUBLIC_BASE_URL = "https://workers.example.test"
BUCKET = "worker-tests"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Not the kept test of a custom worker dropped from the answers: its route is gone with it, and
    scripts/scaffold_workers.py said so when the update ran."""
    name = collection_path.name
    if not (name.startswith("test_custom_") and name.endswith(".py")):
        return None
    declared = {worker.name for worker in load_plan(DEFAULT_PLAN_PATH).workers if worker.custom}
    return True if name.removeprefix("test_custom_").removesuffix(".py") not in declared else None


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    try:
        postgres = start_postgres()
    except PostgresUnavailableError as exc:
        pytest.exit(f"local PostgreSQL: {exc}", returncode=2)
    redis_server = start_redis()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    # The stand-in resource has exactly the plan's deployments: a worker calling any other model gets a 404.
    azure = AzureAIStandIn(api_key="azure-test-key", deployments=set(deployments(load_plan(DEFAULT_PLAN_PATH)))).start()
    qstash = QStashStandIn(token="qstash-test-token").start()
    apply_migrations(postgres.url)
    env = {
        "APP_ENV": "test",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "DATABASE_URL": postgres.url,
        "DATABASE_POOL_MAX_SIZE": "20",
        "REDIS_URL": redis_server.url,
        "S3_BUCKET": BUCKET,
        "AWS_REGION": "us-east-1",
        "S3_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "QSTASH_URL": qstash.url,
        "QSTASH_TOKEN": qstash.token,
        "QSTASH_CURRENT_SIGNING_KEY": CURRENT_KEY,
        "QSTASH_NEXT_SIGNING_KEY": NEXT_KEY,
        "AZURE_OPENAI_BASE_URL": azure.base_url,
        "AZURE_OPENAI_API_KEY": azure.api_key,
        "AZURE_OPENAI_MAX_RETRIES": "0",
        "AZURE_OPENAI_TIMEOUT_SECONDS": "30",
        "HEALTH_TIMEOUT_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    mp = pytest.MonkeyPatch()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        mp.setenv(name, env[name])
    try:
        yield Services(
            env=env,
            database_url=postgres.url,
            redis_url=redis_server.url,
            s3_endpoint=env["S3_ENDPOINT_URL"],
            bucket=BUCKET,
            azure=azure,
            qstash=qstash,
            current_key=CURRENT_KEY,
            next_key=NEXT_KEY,
            public_base_url=PUBLIC_BASE_URL,
        )
    finally:
        mp.undo()
        azure.stop()
        qstash.stop()
        moto.stop()
        redis_server.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def settings(services: Services) -> Settings:
    return Settings.model_validate(
        {name.lower(): value for name, value in services.env.items() if not name.startswith("AWS_A")}
    )


@pytest.fixture(scope="session")
def plan() -> Plan:
    return load_plan(DEFAULT_PLAN_PATH)


@pytest.fixture(scope="session")
def client(settings: Settings, plan: Plan) -> Iterator[TestClient]:
    # base_url differs from PUBLIC_BASE_URL on purpose: verification must use the configured URL.
    with TestClient(create_app(settings, plan), base_url="http://internal.test") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def db_conn(services: Services) -> Iterator[psycopg.Connection]:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def redis_client(services: Services) -> redis.Redis:
    return redis.Redis.from_url(services.redis_url, decode_responses=True)


@pytest.fixture(scope="session")
def s3(services: Services) -> Any:
    return boto3.client("s3", endpoint_url=services.s3_endpoint, region_name="us-east-1")


_KEEP = {"schema_migrations"}


@pytest.fixture(autouse=True)
def clean_state(services: Services, db_conn: psycopg.Connection, redis_client: redis.Redis, s3: Any) -> Iterator[None]:
    tables = [
        row[0]
        for row in db_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if row[0] not in _KEEP
    ]
    db_conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
    redis_client.flushall()
    requests.post(f"{services.s3_endpoint}/moto-api/reset", timeout=5).raise_for_status()
    s3.create_bucket(Bucket=services.bucket)
    services.azure.reset()
    services.qstash.reset()
    yield
    services.azure.release_requests()


@pytest.fixture
def courier(client: TestClient, services: Services) -> Courier:
    return Courier(client, services)


@pytest.fixture
def model(plan: Plan) -> str:
    names = deployments(plan)
    if not names:
        pytest.skip("no worker of this plan calls a model")
    return names[0]


@pytest.fixture
def ai(settings: Settings) -> Iterator[AIService]:
    service = AIService(create_ai_client(settings))
    yield service
    service.close()
