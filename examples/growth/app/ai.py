"""Azure AI chat completions through the official `azure-ai-inference` SDK, with usage recording.

Why this SDK: the plan's models (app/plan.json, one per worker that uses AI) are served by Azure AI
Foundry's model-inference endpoint, which takes the model name in the request body; `azure-ai-inference`
is the SDK made for it (one client for every model), while `openai.AzureOpenAI` targets per-deployment
Azure OpenAI URLs. Timeouts and bounded retries come from azure-core's pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.ai.inference import ChatCompletionsClient
from azure.ai.inference.models import (
    ChatRequestMessage,
    ImageContentItem,
    ImageUrl,
    SystemMessage,
    TextContentItem,
    UserMessage,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError

from app.errors import PermanentJobError, RetryableJobError
from app.settings import Settings


@dataclass(frozen=True)
class Completion:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int


def create_ai_client(settings: Settings) -> ChatCompletionsClient:
    return ChatCompletionsClient(
        endpoint=settings.azure_ai_endpoint,
        credential=AzureKeyCredential(settings.azure_ai_api_key.get_secret_value() or "unset"),
        connection_timeout=5,
        read_timeout=settings.azure_ai_timeout_seconds,
        retry_total=settings.azure_ai_max_retries,
        retry_backoff_factor=0.5,
        retry_backoff_max=4,
    )


def text_prompt(system: str, user: str) -> list[ChatRequestMessage]:
    return [SystemMessage(content=system), UserMessage(content=user)]


def image_prompt(system: str, user: str, image_url: str) -> list[ChatRequestMessage]:
    return [
        SystemMessage(content=system),
        UserMessage(
            content=[
                TextContentItem(text=user),
                ImageContentItem(image_url=ImageUrl(url=image_url)),
            ]
        ),
    ]


class AIService:
    """Calls a model and hands back text plus token usage; the caller records the usage."""

    def __init__(self, client: ChatCompletionsClient) -> None:
        self._client = client

    def complete(self, *, model: str, messages: list[ChatRequestMessage], max_tokens: int = 400) -> Completion:
        try:
            response: Any = self._client.complete(messages=messages, model=model, max_tokens=max_tokens)
        except HttpResponseError as exc:
            status = exc.status_code or 0
            if status in (
                400,
                413,
                422,
            ):  # this input will never pass (e.g. content filter)
                raise PermanentJobError(f"model {model} rejected the request ({status})") from exc
            raise RetryableJobError(f"model {model} failed ({status})") from exc
        except AzureError as exc:
            raise RetryableJobError(f"model {model} unreachable: {type(exc).__name__}") from exc
        usage = response.usage
        completion = Completion(
            model=model,
            text=str(response.choices[0].message.content or ""),
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
        )
        return completion

    def close(self) -> None:
        self._client.close()
