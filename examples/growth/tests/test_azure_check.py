"""The deploy preflight's Foundry probe (ops/azure_check.py) against the loopback v1 stand-in: one line per
problem, naming the variable or the deployment, and nothing when every deployment answers."""

from __future__ import annotations

import socket

import pytest

from app.ai import deployments
from app.plan import Plan
from ops.azure_check import azure_problems, deployments_from_plan
from ops.config import OpsEnv, OpsPlan
from tests.helpers import Services


@pytest.fixture
def plan_models(plan: Plan) -> list[str]:
    names = deployments(plan)
    if not names:
        pytest.skip("no worker of this plan calls a model")
    return names


def test_the_probe_reads_the_rendered_plans_deployments(plan: Plan) -> None:
    assert deployments_from_plan() == deployments(plan)


def test_no_problem_when_every_deployment_answers(services: Services, plan_models: list[str]) -> None:
    azure = services.azure
    assert azure_problems(azure.base_url, azure.api_key, plan_models) == []
    assert [(call.model, call.max_tokens, call.auth) for call in azure.calls] == [
        (name, 1, "bearer") for name in plan_models
    ]


def test_each_missing_deployment_is_one_line_naming_it(services: Services, plan_models: list[str]) -> None:
    azure = services.azure
    missing = ["video-model-renamed", "another-missing"]
    problems = azure_problems(azure.base_url, azure.api_key, [*plan_models, *missing, missing[0]])
    assert len(problems) == len(missing)  # asked twice, reported once
    for name, line in zip(missing, problems, strict=True):
        assert line.startswith(f"deployment '{name}' not found at {azure.base_url}")
        assert f"deploy the model {name}" in line
    assert [call.model for call in azure.calls] == plan_models  # refused ones never reach a model


def test_a_rejected_key_is_one_line_and_stops_the_probe(services: Services, plan_models: list[str]) -> None:
    azure = services.azure
    problems = azure_problems(azure.base_url, "not-the-key", [*plan_models, "missing-too"])
    assert problems == [
        f"AZURE_OPENAI_API_KEY was rejected by {azure.base_url} (401): use a key of that Foundry resource"
    ]
    assert "not-the-key" not in problems[0]


def test_a_base_url_that_is_not_a_v1_endpoint(services: Services, plan_models: list[str]) -> None:
    azure = services.azure
    (shape,) = azure_problems(f"{azure.url}/models", azure.api_key, plan_models)
    assert shape.startswith(f"AZURE_OPENAI_BASE_URL '{azure.url}/models' is not a Foundry v1 endpoint")
    (plain,) = azure_problems("http://res.openai.azure.com/openai/v1/", azure.api_key, plan_models)
    assert "must be https" in plain
    # v1-shaped but not the resource's route: the endpoint itself answers 404 without DeploymentNotFound.
    (route,) = azure_problems(f"{azure.url}/proxy/openai/v1", azure.api_key, plan_models)
    assert route.startswith(f"AZURE_OPENAI_BASE_URL {azure.url}/proxy/openai/v1 answered 404")
    assert azure.calls == []


def test_an_unreachable_or_silent_endpoint(services: Services, plan_models: list[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = f"http://127.0.0.1:{port}/openai/v1"
    assert azure_problems(closed, "k", plan_models) == [f"AZURE_OPENAI_BASE_URL {closed} is unreachable (ConnectError)"]
    services.azure.hold_requests()
    silent = azure_problems(services.azure.base_url, services.azure.api_key, plan_models, timeout=0.3)
    assert silent == [f"AZURE_OPENAI_BASE_URL {services.azure.base_url} did not answer within 0.3 s"]


def test_missing_variables_are_named_without_a_request(services: Services, plan_models: list[str]) -> None:
    assert azure_problems("", "k", plan_models) == ["AZURE_OPENAI_BASE_URL is not set"]
    assert azure_problems(services.azure.base_url, "", plan_models) == ["AZURE_OPENAI_API_KEY is not set"]
    assert services.azure.calls == []


def test_the_ops_environment_checks_the_base_url_shape() -> None:
    plan = OpsPlan.load()
    base = {"AWS_REGION": plan.region}

    def azure_lines(url: str) -> list[str]:
        env = OpsEnv.from_environ(plan, {**base, "AZURE_OPENAI_BASE_URL": url})
        return [line for line in env.problems(plan, needs_secrets=False) if "AZURE" in line]

    assert azure_lines("https://res.openai.azure.com/openai/v1/") == []
    (line,) = azure_lines("https://res.services.ai.azure.com/models")
    assert line.startswith("AZURE_OPENAI_BASE_URL must be https and end in /openai/v1")
