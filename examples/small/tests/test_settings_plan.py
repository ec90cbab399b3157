"""Settings come from the environment only; the plan drives which routes exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from app.api import create_app
from app.plan import Plan, load_plan
from app.settings import DEFAULT_PLAN_PATH, ENV_VARS, Settings
from app.workers import load_workers

PROD_ENV = {
    "PUBLIC_BASE_URL": "https://abc.lambda-url.us-east-1.on.aws",
    "DATABASE_URL": "postgresql://u:p@db:5432/app",
    "REDIS_URL": "rediss://cache:6379/0",
    "S3_BUCKET": "bucket",
    "QSTASH_URL": "https://qstash-us-east-1.upstash.io",
    "QSTASH_CURRENT_SIGNING_KEY": "sig_current",
    "QSTASH_NEXT_SIGNING_KEY": "sig_next",
}


def test_env_var_list_matches_settings_fields() -> None:
    assert {name.lower() for name in ENV_VARS} == set(Settings.model_fields)


def test_production_is_the_default_and_demands_https(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # type: ignore[call-arg]
    assert settings.app_env == "production"
    assert settings.route_url("/workers/x") == "https://abc.lambda-url.us-east-1.on.aws/workers/x"
    assert "p@db" not in repr(settings)  # secrets never print
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://plain.example")
    with pytest.raises(ValidationError, match="https"):
        Settings()  # type: ignore[call-arg]


def test_production_requires_both_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QSTASH_NEXT_SIGNING_KEY", "")
    with pytest.raises(ValidationError, match="QSTASH_NEXT_SIGNING_KEY"):
        Settings()  # type: ignore[call-arg]


def test_on_aws_the_keys_come_from_the_app_secret_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the stack sets a function's environment: the secret's ARN, no key (app/secrets.py reads them)."""
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_OPENAI_BASE_URL", "https://r.openai.azure.com/openai/v1")
    with pytest.raises(ValidationError, match=r"QSTASH_CURRENT_SIGNING_KEY is required \(or APP_SECRET_ARN"):
        Settings()  # type: ignore[call-arg]
    monkeypatch.setenv("APP_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.qstash_current_signing_key.get_secret_value() == ""
    assert settings.app_secret_arn.endswith(":secret:app-AbCdEf")


def test_production_requires_the_qstash_region_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QSTASH_URL", "")
    with pytest.raises(ValidationError, match="QSTASH_URL is required"):
        Settings()  # type: ignore[call-arg]


def test_plan_ignores_unknown_keys_and_validates_known_ones(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_PLAN_PATH.read_text())
    data["future_section"] = {"anything": 1}
    data["workers"][0]["future_field"] = True
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    assert load_plan(path).workers[0].name == data["workers"][0]["name"]
    data["workers"][0].update(trigger="cron", cron=None)
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="cron trigger needs a cron expression"):
        load_plan(path)


class _Limits(BaseModel):
    max_items: int = Field(gt=0)


def test_a_section_is_read_by_the_model_of_the_worker_that_owns_it(plan: Plan) -> None:
    extended = Plan.model_validate({**plan.model_dump(), "limits": {"max_items": 3}})
    assert extended.section("limits", _Limits) == _Limits(max_items=3)
    with pytest.raises(ValueError, match="no 'absent' section"):
        plan.section("absent", _Limits)
    broken = Plan.model_validate({**plan.model_dump(), "limits": {"max_items": 0}})
    with pytest.raises(ValidationError, match="max_items"):
        broken.section("limits", _Limits)


def test_the_plan_has_exactly_the_sections_its_workers_read(settings: Settings, plan: Plan) -> None:
    # An unchosen worker leaves no section behind, and every chosen one finds its own.
    read = {spec.plan_section[0] for spec in load_workers(plan).values() if spec.plan_section is not None}
    assert set(plan.model_extra or {}) == read
    # Without its section, a planned worker stops the app at start instead of failing each delivery.
    for key in read:
        data = plan.model_dump()
        del data[key]
        with pytest.raises(ValueError, match=f"no {key!r} section"):
            create_app(settings, Plan.model_validate(data))


def test_each_worker_module_loads(plan: Plan) -> None:
    specs = load_workers(plan)
    assert sorted(specs) == sorted(worker.name for worker in plan.workers)


# Subsets of the rendered plan's workers, by position, so that any rendered choice of workers is covered.
SUBSETS = {"first": slice(0, 1), "all_but_first": slice(1, None), "none": slice(0, 0)}


@pytest.mark.parametrize("subset", sorted(SUBSETS))
def test_app_mounts_only_the_planned_workers(settings: Settings, plan: Plan, subset: str) -> None:
    kept = plan.workers[SUBSETS[subset]]
    dropped = [worker for worker in plan.workers if worker not in kept]
    app = create_app(settings, plan.model_copy(update={"workers": kept}))
    paths = {getattr(route, "path", "") for route in app.routes}
    expected = {worker.route for worker in kept} | {plan.qstash.failure_callback_route, "/health"}
    assert {p for p in paths if p.startswith("/workers") or p == "/health"} == expected
    with TestClient(app) as client:
        for worker in kept:
            assert client.post(worker.route, content=b"{}").status_code == 401  # mounted, and signed only
        for worker in dropped:
            assert client.post(worker.route, content=b"{}").status_code == 404
