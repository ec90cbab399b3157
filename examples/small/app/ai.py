"""Chat completions on Azure AI Foundry through the OpenAI Python SDK (v1 endpoint), with usage recording.

Why this SDK: Microsoft retired the Azure AI Inference beta SDK (`azure-ai-inference`, the
`.../models` endpoint) on 2026-08-26 and moves callers to the OpenAI SDK against the resource's v1
endpoint. Source: "Migrate from Azure AI Inference SDK to OpenAI SDK",
https://learn.microsoft.com/en-us/azure/ai-foundry/how-to/model-inference-to-openai-migration
(read 2026-11-25): `OpenAI(api_key=..., base_url="https://<resource>.openai.azure.com/openai/v1/")`,
no `api-version` parameter on v1, and `model` is required and is the DEPLOYMENT name. The plan's model
name is used as the deployment name (QUICK-START.md says to deploy each model under exactly that name).

One client per container (built once by `app.resources`, reused by warm Lambdas): a short connect
timeout, the read timeout and a bounded number of retries from the settings (the SDK retries
408/409/429/5xx and connection errors with backoff, honouring Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass

from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAI, Timeout
from openai.types.chat import (
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from app.errors import PermanentJobError, RetryableJobError
from app.plan import Plan
from app.settings import Settings

# A model endpoint that does not accept a connection within this many seconds is down, whatever the
# read timeout (which must cover a whole generation) says.
CONNECT_TIMEOUT_SECONDS = 5.0
# The request itself can never pass: malformed, too large, or refused by the content filter.
_PERMANENT_STATUSES = frozenset({400, 413, 422})

ChatMessage = ChatCompletionMessageParam


@dataclass(frozen=True)
class Completion:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int


def deployments(plan: Plan) -> list[str]:
    """The Foundry deployments the plan's workers call, in plan order: each model's name IS its deployment name."""
    return list(dict.fromkeys(worker.model for worker in plan.workers if worker.model))


def create_ai_client(settings: Settings) -> OpenAI | None:
    """None when no base URL is configured: the SDK would otherwise default to api.openai.com."""
    if not settings.azure_openai_base_url:
        return None
    return OpenAI(
        base_url=settings.azure_openai_base_url,
        # The SDK refuses an empty key; an unset one locally is answered 401 by the endpoint instead.
        api_key=settings.azure_openai_api_key.get_secret_value() or "unset",
        timeout=Timeout(settings.azure_openai_timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS),
        max_retries=settings.azure_openai_max_retries,
    )


def text_prompt(system: str, user: str) -> list[ChatMessage]:
    system_message: ChatCompletionSystemMessageParam = {"role": "system", "content": system}
    user_message: ChatCompletionUserMessageParam = {"role": "user", "content": user}
    return [system_message, user_message]


def image_prompt(system: str, user: str, image_url: str) -> list[ChatMessage]:
    text: ChatCompletionContentPartTextParam = {"type": "text", "text": user}
    image: ChatCompletionContentPartImageParam = {"type": "image_url", "image_url": {"url": image_url}}
    system_message: ChatCompletionSystemMessageParam = {"role": "system", "content": system}
    user_message: ChatCompletionUserMessageParam = {"role": "user", "content": [text, image]}
    return [system_message, user_message]


def _status(exc: APIStatusError) -> str:
    # Azure answers {"error": {"code": ..., "message": ...}}; the SDK exposes the inner code.
    code = exc.code if exc.code and exc.code != str(exc.status_code) else ""
    return f"{exc.status_code} {code}".strip()


class AIService:
    """Calls a model deployment and hands back text plus token usage; the caller records the usage."""

    def __init__(self, client: OpenAI | None) -> None:
        self._client = client

    def complete(self, *, model: str, messages: list[ChatMessage], max_tokens: int = 400) -> Completion:
        if self._client is None:
            # A configuration gap, not this input's fault: the message passes once the variable is set.
            raise RetryableJobError(f"model {model} not called: AZURE_OPENAI_BASE_URL is not set")
        try:
            response = self._client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)
        except APIStatusError as exc:
            if exc.status_code == 404:
                raise PermanentJobError(
                    f"model deployment {model!r} not found at AZURE_OPENAI_BASE_URL ({_status(exc)}):"
                    f" deploy {model} in Foundry under exactly this name"
                ) from exc
            if exc.status_code in _PERMANENT_STATUSES:
                raise PermanentJobError(f"model {model} rejected the request ({_status(exc)})") from exc
            # 408/429/5xx after the SDK's own retries, and 401/403: a key or quota problem, not this input's.
            raise RetryableJobError(f"model {model} failed ({_status(exc)})") from exc
        except APITimeoutError as exc:
            raise RetryableJobError(f"model {model} timed out") from exc
        except APIConnectionError as exc:
            raise RetryableJobError(f"model {model} unreachable: {type(exc.__cause__ or exc).__name__}") from exc
        usage = response.usage
        content = response.choices[0].message.content if response.choices else None
        return Completion(
            model=model,
            text=str(content or ""),
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
