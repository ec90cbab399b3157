"""The limits in app/plan.json are what the code obeys: the prompt cut to the input cap (checked against the
Azure AI stand-in's own token counts), the answer capped, model calls cut off at the message deadline, each
worker route's body limit, and a plan whose limits contradict each other refused at load."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.ai import AIService, ChatMessage, create_ai_client, image_prompt, text_prompt
from app.api import create_app
from app.errors import PermanentJobError, RetryableJobError
from app.plan import Plan
from app.prompt_budget import FRAMING_TOKENS_PER_MESSAGE, REPLY_PRIMING_TOKENS, fit_prompt, token_ceiling
from app.settings import Settings
from tests.helpers import Courier, Services

CAP = 300


def test_every_model_worker_has_token_caps_and_a_deadline_inside_qstash_timeout(plan: Plan) -> None:
    for worker in plan.workers:
        limits = worker.limits
        assert 0 < limits.message_deadline_seconds < plan.qstash.timeout_seconds
        if worker.model:
            assert limits.max_input_tokens
            assert limits.max_output_tokens
            assert limits.model_calls_per_unit
        if worker.trigger == "event":
            assert limits.chunk_size is None  # one message is one unit of work already


def test_a_long_prompt_is_cut_to_the_cap_by_the_stand_ins_count(ai: AIService, model: str, services: Services) -> None:
    messages = text_prompt("Summarise.", "many short words " * CAP)
    ai.complete(model=model, messages=messages, max_tokens=5)
    assert services.azure.calls[-1].prompt_tokens > CAP  # as it was, it would be over the cap
    fitted = fit_prompt(messages, CAP)
    ai.complete(model=model, messages=fitted, max_tokens=5)
    sent = services.azure.calls[-1]
    assert token_ceiling(fitted) <= CAP
    assert CAP // 8 < sent.prompt_tokens <= CAP  # cut, not emptied: one word per 6 bytes of the budget here
    assert sent.messages[0] == {"role": "system", "content": "Summarise."}  # instructions come first and stay
    assert str(sent.messages[1]["content"]).startswith("many short words")


def test_the_bound_holds_for_multibyte_text_and_leaves_images_alone() -> None:
    url = "https://bucket.example/thumb.jpg"
    messages = image_prompt("Label.", "é" * 1000, url)
    fitted = fit_prompt(messages, CAP)
    parts = fitted[1]["content"]
    assert isinstance(parts, list)
    text = parts[0]["text"]  # type: ignore[typeddict-item]
    assert set(text) == {"é"}
    assert len(text.encode()) + len(b"Label.") + 2 * FRAMING_TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS <= CAP
    assert parts[1] == {"type": "image_url", "image_url": {"url": url}}
    assert fit_prompt(messages, 10_000) is messages  # within the cap: sent as it is


def test_a_cap_smaller_than_the_framing_is_permanent() -> None:
    messages: list[ChatMessage] = text_prompt("s", "u")
    with pytest.raises(PermanentJobError, match="leaves no room"):
        fit_prompt(messages, FRAMING_TOKENS_PER_MESSAGE)


def test_a_model_call_stops_at_the_deadline_as_retryable(ai: AIService, model: str, services: Services) -> None:
    services.azure.hold_requests()
    started = time.monotonic()
    with pytest.raises(RetryableJobError, match="deadline"):
        ai.complete(model=model, messages=text_prompt("s", "u"), max_tokens=5, deadline=started + 0.5)
    assert 0.4 < time.monotonic() - started < 3
    services.azure.release_requests()
    services.azure.reset()
    with pytest.raises(RetryableJobError, match="deadline has passed"):
        ai.complete(model=model, messages=text_prompt("s", "u"), max_tokens=5, deadline=time.monotonic())
    assert services.azure.calls == []  # past the deadline, nothing is sent


def test_retries_stop_at_the_deadline(settings: Settings, model: str, services: Services) -> None:
    service = AIService(create_ai_client(settings.model_copy(update={"azure_openai_max_retries": 5})))
    services.azure.fail_next(503, 503, 503, 503, 503, 503)
    started = time.monotonic()
    with pytest.raises(RetryableJobError, match="503"):
        service.complete(model=model, messages=text_prompt("s", "u"), max_tokens=5, deadline=started + 1.0)
    service.close()
    assert time.monotonic() - started < 1.0
    assert 1 < len(services.azure.calls) < 6  # retried while the backoff fit before the deadline, no longer


def test_a_worker_route_refuses_a_body_over_its_plan_limit(settings: Settings, plan: Plan, services: Services) -> None:
    worker = plan.workers[0]
    small = worker.model_copy(update={"limits": worker.limits.model_copy(update={"max_payload_bytes": 64})})
    limited = plan.model_copy(update={"workers": (small, *plan.workers[1:])})
    with TestClient(create_app(settings, limited)) as client:
        courier = Courier(client, services)
        over = courier.deliver(worker.route, {"padding": "x" * 64})
        within = courier.deliver(worker.route, {"x": 1})
    assert over.status_code == 489
    assert over.json() == {"error": "body larger than 64 bytes"}
    assert "body larger" not in within.text


def test_a_plan_whose_limits_contradict_each_other_is_refused(plan: Plan) -> None:
    data = json.loads(plan.model_dump_json())
    for worker in data["workers"]:
        worker["limits"]["message_deadline_seconds"] = data["qstash"]["timeout_seconds"]
    with pytest.raises(ValidationError, match=r"message_deadline_seconds must be below qstash\.timeout_seconds"):
        Plan.model_validate(data)
    data = json.loads(plan.model_dump_json())
    with_model = [w for w in data["workers"] if w["model"]]
    if with_model:
        with_model[0]["limits"]["max_output_tokens"] = None
        with pytest.raises(ValidationError, match="needs max_input_tokens and max_output_tokens"):
            Plan.model_validate(data)
