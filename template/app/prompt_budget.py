"""Keeps a prompt within the plan's `max_input_tokens` without a tokenizer, by a bound that always holds.

The bound: the plan's models use byte-level BPE tokenizers, in which every token stands for at least one byte
of UTF-8 text ("DeepSeek-V3 Technical Report", section 4.1, https://arxiv.org/abs/2412.19437: "Byte-level BPE
with an extended vocabulary of 128K tokens"; read 2026-11-25), so a text of n UTF-8 bytes is at most n tokens,
whatever its language or digits. Chat framing adds a few tokens per message and to prime the reply (OpenAI
Cookbook, "How to count tokens with tiktoken",
https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken: 3 per message and 3 for the reply;
read 2026-11-25); the allowances below reserve more than that. English runs near 4 bytes per token, so real
prompts use a quarter of the cap or so: the cap is the ceiling the plan prices as its high estimate.

Text is cut from the end of the prompt backwards (the data comes last; the instructions first). Image parts
are not text: the model counts an image's tokens by its own rule (tiles of the picture), so they are passed as
they are and a vision worker's input cap in the plan leaves room for its largest image (rules.yaml says how).
"""

from __future__ import annotations

from typing import Any, cast

from app.errors import PermanentJobError
from app.prompts import ChatMessage

FRAMING_TOKENS_PER_MESSAGE = 8
REPLY_PRIMING_TOKENS = 8


def token_ceiling(messages: list[ChatMessage]) -> int:
    """The most tokens these messages can count as, by the bound above: one per UTF-8 byte, plus framing."""
    return sum(len(text.encode()) for _, _, text in _texts(messages)) + _framing(messages)


def fit_prompt(messages: list[ChatMessage], max_input_tokens: int) -> list[ChatMessage]:
    """The messages, their text cut from the end until `token_ceiling` is within `max_input_tokens`."""
    over = token_ceiling(messages) - max_input_tokens
    if over <= 0:
        return messages
    fitted: list[dict[str, Any]] = [dict(message) for message in messages]
    for index, part, text in reversed(_texts(messages)):
        if over <= 0:
            break
        encoded = text.encode()
        keep = max(0, len(encoded) - over)
        # A cut inside a multi-byte character drops that character's bytes too: still within the budget.
        cut = encoded[:keep].decode("utf-8", errors="ignore")
        over -= len(encoded) - len(cut.encode())
        _replace(fitted[index], part, cut)
    if over > 0:
        # Only the framing is left, and it alone is over the cap: no prompt can pass; the plan must change.
        raise PermanentJobError(f"max_input_tokens {max_input_tokens} leaves no room for a prompt")
    return [cast(ChatMessage, message) for message in fitted]


def _framing(messages: list[ChatMessage]) -> int:
    return FRAMING_TOKENS_PER_MESSAGE * len(messages) + REPLY_PRIMING_TOKENS


def _texts(messages: list[ChatMessage]) -> list[tuple[int, int | None, str]]:
    """(message index, part index or None for plain string content, text) of every text in order."""
    found: list[tuple[int, int | None, str]] = []
    for index, message in enumerate(messages):
        content: Any = message.get("content")
        if isinstance(content, str):
            found.append((index, None, content))
        elif isinstance(content, list):
            for part_index, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "text":
                    found.append((index, part_index, str(part.get("text", ""))))
    return found


def _replace(message: dict[str, Any], part: int | None, text: str) -> None:
    if part is None:
        message["content"] = text
        return
    parts = [dict(item) for item in message["content"]]
    parts[part]["text"] = text
    message["content"] = parts
