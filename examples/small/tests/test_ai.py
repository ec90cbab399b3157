"""The AI client (app/ai.py, httpx) against the loopback stand-in of a Foundry v1 endpoint.

What goes over the wire (path, auth, body), what comes back (text, usage), how each failure is classified
for QStash (permanent: the input never passes; retryable: it may pass later), and the settings' checks.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from app.ai import AIService, ModelHTTPError, _backoff, create_ai_client, deployments, image_prompt, text_prompt
from app.errors import PermanentJobError, RetryableJobError
from app.plan import Plan
from app.settings import Settings
from devstack.azure_ai import AzureAIStandIn
from tests.helpers import Services

# The answer cap the calls below ask for (the workers take theirs from the plan; see tests/test_limits.py).
ANSWER_TOKENS = 50


def _service(settings: Settings, **changes: object) -> AIService:
    return AIService(create_ai_client(settings.model_copy(update=changes)))


# A production environment that passes every other check.
PROD_ENV = {
    "APP_ENV": "production",
    "PUBLIC_BASE_URL": "https://abc.lambda-url.us-east-1.on.aws",
    "DATABASE_URL": "postgresql://u:p@db:5432/app",
    "REDIS_URL": "rediss://cache:6379/0",
    "S3_BUCKET": "bucket",
    "QSTASH_URL": "https://qstash-us-east-1.upstash.io",
    "QSTASH_CURRENT_SIGNING_KEY": "sig_current",
    "QSTASH_NEXT_SIGNING_KEY": "sig_next",
    "S3_ENDPOINT_URL": "",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_plan_names_one_deployment_per_distinct_model(plan: Plan) -> None:
    models = [worker.model for worker in plan.workers if worker.model]
    assert deployments(plan) == list(dict.fromkeys(models))


def test_a_completion_goes_to_the_v1_route_with_the_deployment_name_and_records_usage(
    ai: AIService, model: str, services: Services
) -> None:
    completion = ai.complete(
        model=model, messages=text_prompt("Be brief.", "summarise three short words"), max_tokens=7
    )
    assert completion.model == model
    assert completion.text == f"[{model}] summarise three short words"
    assert (completion.prompt_tokens, completion.completion_tokens) == (2 + 4, 5)  # words in, words out
    (call,) = services.azure.calls
    assert call.path == "/openai/v1/chat/completions"  # no api-version on v1
    assert call.auth == "api-key"  # the key goes in the `api-key` header, as Microsoft documents for v1
    assert call.model == model
    assert call.max_tokens == 7
    assert call.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "summarise three short words"},
    ]


def test_an_image_prompt_sends_a_text_part_and_an_image_url_part(ai: AIService, model: str, services: Services) -> None:
    url = "https://bucket.example/thumb.jpg?X-Amz-Signature=abc"
    completion = ai.complete(
        model=model, messages=image_prompt("Label it.", "Tag this.", url), max_tokens=ANSWER_TOKENS
    )
    assert '"tags": ["outdoor", "people", "daylight"]' in completion.text
    (call,) = services.azure.calls
    assert call.messages[1]["content"] == [
        {"type": "text", "text": "Tag this."},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    assert completion.prompt_tokens == 2 + 2 + 85  # both texts plus the stand-in's image charge


def test_an_unknown_deployment_is_permanent_and_named(ai: AIService, services: Services) -> None:
    missing = "not-a-deployment-of-this-plan"
    with pytest.raises(PermanentJobError, match=f"deployment '{missing}' not found.*DeploymentNotFound"):
        ai.complete(model=missing, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    assert services.azure.calls == []  # refused before it counted as a call


@pytest.mark.parametrize("status", [400, 413, 422])
def test_input_that_can_never_pass_is_permanent(ai: AIService, model: str, services: Services, status: int) -> None:
    services.azure.fail_next(status)
    with pytest.raises(PermanentJobError, match=f"rejected the request \\({status}\\)"):
        ai.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)


@pytest.mark.parametrize("status", [408, 429, 500, 503, 401])
def test_transient_or_configuration_failures_are_retryable(
    ai: AIService, model: str, services: Services, status: int
) -> None:
    services.azure.fail_next(status)
    with pytest.raises(RetryableJobError, match=f"failed \\({status}\\)"):
        ai.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    assert len(services.azure.calls) == 1  # the tests' settings allow no retry


def test_a_wrong_key_is_refused_by_the_endpoint(settings: Settings, model: str, services: Services) -> None:
    service = _service(settings, azure_openai_api_key=SecretStr("wrong"))
    with pytest.raises(RetryableJobError, match="failed \\(401\\)"):
        service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    service.close()
    assert services.azure.calls == []


def test_retries_are_bounded_by_the_setting(settings: Settings, model: str, services: Services) -> None:
    service = _service(settings, azure_openai_max_retries=1)
    services.azure.fail_next(503, 503, 503)
    with pytest.raises(RetryableJobError, match="503"):
        service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    assert len(services.azure.calls) == 2  # the call and one retry, not more
    services.azure.reset()
    services.azure.fail_next(429)
    assert service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS).text.startswith(
        f"[{model}]"
    )
    assert len(services.azure.calls) == 2
    service.close()


def test_a_retry_waits_what_retry_after_says_up_to_a_minute() -> None:
    def throttled(retry_after: str | None) -> ModelHTTPError:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return ModelHTTPError(httpx.Response(429, headers=headers, json={"error": {"code": "429", "message": "slow"}}))

    assert _backoff(0, throttled("2.5")) == 2.5
    assert _backoff(3, throttled("0")) == 0.0
    # Absent, unreadable or longer than a minute: the exponential backoff (0.5 s doubling, at most 8 s).
    assert [_backoff(n, throttled(None)) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert _backoff(1, throttled("soon")) == 1.0
    assert _backoff(1, throttled("120")) == 1.0
    assert str(throttled(None)) == "429"  # Azure's code only repeats the status


def test_an_unreachable_endpoint_is_retryable(settings: Settings, model: str) -> None:
    service = _service(settings, azure_openai_base_url=f"http://127.0.0.1:{_closed_port()}/openai/v1")
    with pytest.raises(RetryableJobError, match="unreachable"):
        service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    service.close()


def test_a_model_slower_than_the_read_timeout_is_retryable(settings: Settings, model: str, services: Services) -> None:
    service = _service(settings, azure_openai_timeout_seconds=0.3)
    services.azure.hold_requests()
    with pytest.raises(RetryableJobError, match="timed out"):
        service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    assert services.azure.controls.arrived.is_set()
    service.close()


def test_without_a_base_url_nothing_is_called(settings: Settings, model: str, services: Services) -> None:
    # No default endpoint: an unset variable must never send the key anywhere.
    service = _service(settings, azure_openai_base_url="")
    with pytest.raises(RetryableJobError, match="AZURE_OPENAI_BASE_URL is not set"):
        service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=ANSWER_TOKENS)
    service.close()
    assert services.azure.calls == []


def test_the_stand_in_speaks_the_v1_wire_format(services: Services, model: str) -> None:
    azure = services.azure
    body = {"model": model, "messages": [{"role": "user", "content": "one two three"}], "max_completion_tokens": 2}
    url = f"{azure.base_url}/chat/completions"
    with_key = httpx.post(url, json=body, headers={"api-key": azure.api_key}, timeout=5)
    assert with_key.status_code == 200
    assert with_key.json()["choices"][0] == {
        "index": 0,
        "finish_reason": "length",
        "message": {"role": "assistant", "content": f"[{model}] one"},
    }
    assert with_key.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert azure.calls[-1].auth == "api-key"
    no_key = httpx.post(url, json=body, timeout=5)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "401"
    old_route = httpx.post(f"{azure.url}/models/chat/completions", json=body, headers={"api-key": azure.api_key})
    assert old_route.status_code == 404


def test_any_deployment_is_accepted_when_the_stand_in_has_no_list() -> None:
    azure = AzureAIStandIn(api_key="k").start()
    try:
        body = {"model": "anything", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{azure.base_url}/chat/completions", json=body, headers={"api-key": "k"}, timeout=5)
    finally:
        azure.stop()
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "[anything] hi"


def _production(monkeypatch: pytest.MonkeyPatch, base_url: str, key: str = "azure-key") -> Settings:
    for name, value in {**PROD_ENV, "AZURE_OPENAI_BASE_URL": base_url, "AZURE_OPENAI_API_KEY": key}.items():
        monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]


def test_production_accepts_the_v1_endpoint_with_or_without_the_trailing_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for url in ("https://res.openai.azure.com/openai/v1/", "https://res.openai.azure.com/openai/v1"):
        assert _production(monkeypatch, url).azure_openai_base_url == "https://res.openai.azure.com/openai/v1"


@pytest.mark.parametrize(
    "url",
    [
        "http://res.openai.azure.com/openai/v1/",  # not https
        "https://res.services.ai.azure.com/models",  # the retired inference endpoint
        "https://res.openai.azure.com/",  # no v1 path
    ],
)
def test_production_refuses_a_base_url_that_is_not_an_https_v1_endpoint(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    with pytest.raises(ValidationError, match="AZURE_OPENAI_BASE_URL must be https and end in /openai/v1") as info:
        _production(monkeypatch, url)
    assert info.value.error_count() == 1


def test_production_needs_the_key_with_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="AZURE_OPENAI_API_KEY is required"):
        _production(monkeypatch, "https://res.openai.azure.com/openai/v1/", key="")
    monkeypatch.setenv("AZURE_OPENAI_BASE_URL", "")
    assert Settings().azure_openai_base_url == ""  # type: ignore[call-arg]  # a plan without AI workers
