"""Loopback stand-in for an Azure AI Foundry models endpoint (the chat-completions wire format that
`azure-ai-inference`'s ChatCompletionsClient speaks: POST .../chat/completions?api-version=...).

Answers are deterministic and carry `usage` token counts, so callers can record spend. Requests whose
messages contain an image get a JSON answer with tags and a description, as a vision prompt asks for.
Tests can make it fail (`fail_next`) or hold requests (`hold`) to simulate a slow model mid-job.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from devstack.http_standin import JsonHandler, LoopbackServer

API_KEY_HEADER = "api-key"


@dataclass
class RecordedCall:
    model: str
    messages: list[dict[str, Any]]
    path: str


@dataclass
class _Controls:
    failures: list[int] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(item.get("text", "")) for item in content if item.get("type") == "text")
    return texts


def _has_image(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(item.get("type") == "image_url" for item in m["content"])
        for m in messages
    )


def answer_for(model: str, messages: list[dict[str, Any]]) -> str:
    if _has_image(messages):
        return json.dumps(
            {
                "tags": ["outdoor", "people", "daylight"],
                "description": f"An image described by {model}.",
            }
        )
    last = _texts(messages)[-1] if messages else ""
    return f"[{model}] " + " ".join(last.split()[:12])


class AzureAIStandIn(LoopbackServer):
    def __init__(self, api_key: str) -> None:
        super().__init__(_Handler)
        self.api_key = api_key
        self.calls: list[RecordedCall] = []
        self.controls = _Controls()
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"{self.url}/models"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.controls = _Controls()

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self.controls.failures.extend(statuses)

    def hold_requests(self) -> None:
        """Subsequent requests wait until `release_requests`; `controls.arrived` is set when one waits."""
        self.controls.hold.set()

    def release_requests(self) -> None:
        self.controls.hold.clear()
        self.controls.release.set()

    def _next_failure(self) -> int | None:
        with self._lock:
            return self.controls.failures.pop(0) if self.controls.failures else None


class _Handler(JsonHandler):
    @property
    def standin(self) -> AzureAIStandIn:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        standin = self.standin
        body = self.read_body()
        if not self.path.split("?")[0].endswith("/chat/completions"):
            self.send_json(404, {"error": {"code": "NotFound", "message": "unknown route"}})
            return
        if self.headers.get(API_KEY_HEADER) != standin.api_key:
            self.send_json(401, {"error": {"code": "Unauthorized", "message": "bad api key"}})
            return
        request = json.loads(body)
        model = str(request.get("model", "unknown"))
        messages = list(request.get("messages", []))
        with standin._lock:
            standin.calls.append(RecordedCall(model=model, messages=messages, path=self.path))
        controls = standin.controls
        if controls.hold.is_set():
            controls.arrived.set()
            controls.release.wait(60)
        failure = standin._next_failure()
        if failure is not None:
            self.send_json(
                failure,
                {
                    "error": {
                        "code": "ServiceUnavailable",
                        "message": "stand-in failure",
                    }
                },
            )
            return
        content = answer_for(model, messages)
        prompt_tokens = sum(len(text.split()) for text in _texts(messages)) + 85 * _has_image(messages)
        completion_tokens = len(content.split())
        self.send_json(
            200,
            {
                "id": f"chatcmpl-{len(standin.calls)}",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )
