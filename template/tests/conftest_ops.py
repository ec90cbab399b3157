"""Fixtures of the ops tests (tests/test_ops_*.py load them with `pytest_plugins`).

AWS is moto's server on 127.0.0.1 (the session's, reset before every test by conftest.clean_state);
boto3 reaches it through AWS_ENDPOINT_URL, so the ops code runs unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.config import OpsPlan
from tests.helpers import Services
from tests.ops_support import Deployed, HealthServer, OpsWorld, Recorder, create_moto_stack


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer().start()
    yield server
    server.stop()


@pytest.fixture
def ops_world(services: Services, health_server: HealthServer, monkeypatch: pytest.MonkeyPatch) -> OpsWorld:
    plan = OpsPlan.load()
    # The stand-in's account has the keys the environment names (the preflight compares them).
    services.qstash.keys = (services.current_key, services.next_key)
    environ = {
        "AWS_REGION": plan.region,
        "AWS_ENDPOINT_URL": services.s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PUBLIC_BASE_URL": health_server.url,
        "QSTASH_URL": services.qstash.url,
        "QSTASH_TOKEN": services.qstash.token,
        "QSTASH_CURRENT_SIGNING_KEY": services.current_key,
        "QSTASH_NEXT_SIGNING_KEY": services.next_key,
        "AZURE_OPENAI_BASE_URL": services.azure.base_url,
        "AZURE_OPENAI_API_KEY": services.azure.api_key,
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STACK_NAME", raising=False)
    return OpsWorld(services=services, plan=plan, environ=environ, health=health_server)


@pytest.fixture
def deployed(ops_world: OpsWorld, tmp_path: Path) -> Deployed:
    return create_moto_stack(ops_world, tmp_path)


@pytest.fixture
def recorder(services: Services) -> Recorder:
    return Recorder(services.database_url)
