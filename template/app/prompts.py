"""What a worker hands the model and gets back: chat messages in the OpenAI v1 wire format, and the completion
with its token usage. Apart from app/ai.py (the HTTP client) so that a worker module, the job bookkeeping and
the prompt budget load without it: only the first model call of a process needs it (app.resources builds the
client then). The types are the `openai` SDK's (a dev dependency: the checker reads them, nothing imports them
at run time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletionContentPartImageParam,
        ChatCompletionContentPartTextParam,
        ChatCompletionMessageParam,
        ChatCompletionSystemMessageParam,
        ChatCompletionUserMessageParam,
    )

    ChatMessage = ChatCompletionMessageParam
else:
    # The SDK's message types are TypedDicts, plain dicts at run time: the checker sees the SDK's type.
    ChatMessage = dict[str, Any]


@dataclass(frozen=True)
class Completion:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int


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
