"""GET /health reports database, cache and bucket separately."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.api import create_app
from app.plan import Plan
from app.settings import Settings
from tests.helpers import Services


def test_all_dependencies_healthy(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "cache", "bucket"}
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())


def test_missing_bucket_is_reported_alone(client: TestClient, s3: Any, services: Services) -> None:
    s3.delete_bucket(Bucket=services.bucket)
    response = client.get("/health")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["database"]["ok"], checks["cache"]["ok"], checks["bucket"]["ok"]) == (True, True, False)
    assert checks["bucket"]["error"] == "AwsError"


def test_unreachable_cache_fails_fast(settings: Settings, plan: Plan) -> None:
    dead = settings.model_copy(
        update={"redis_url": type(settings.redis_url)("redis://127.0.0.1:9/0"), "health_timeout_seconds": 0.5}
    )
    with TestClient(create_app(dead, plan)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"]["ok"] is False
    assert checks["database"]["ok"] is True
