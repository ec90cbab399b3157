"""Loopback stand-in for an Azure AI Foundry resource's OpenAI v1 endpoint (what the OpenAI SDK speaks:
`POST {base_url}/chat/completions`, with `base_url` ending in `/openai/v1` and no api-version).

Wire format, as Microsoft documents it (read 2026-11-25):
- "Migrate from Azure AI Inference SDK to OpenAI SDK",
  https://learn.microsoft.com/en-us/azure/ai-foundry/how-to/model-inference-to-openai-migration:
  base URL `https://<resource>.openai.azure.com/openai/v1/`, the key given to `OpenAI(api_key=...)` (which
  sends it as `Authorization: Bearer <key>`), `model` = the deployment name.
- "Azure OpenAI Service REST API reference", https://learn.microsoft.com/en-us/azure/ai-services/openai/reference:
  API-key authentication puts the key in the `api-key` header.
Error bodies are Azure's `{"error": {"code": ..., "message": ...}}`: 401 for a wrong key, 404
`DeploymentNotFound` for a deployment the resource does not have (when built with `deployments`).

Answers are deterministic and carry `usage` token counts, so callers can record spend; the answer is cut
to `max_tokens`/`max_completion_tokens` words. Requests whose messages contain an image get a JSON answer
with tags and a description, as a vision prompt asks for. Tests can make it fail (`fail_next`) or hold
requests (`hold_requests`) to simulate a slow model mid-job. Each call is recorded with the `max_tokens` it
asked for and the prompt tokens it was charged.

`latency` makes every answer take as long as a model would: a log-normal draw with the given median (p50)
and 95th percentile (p95), times `scale` (below 1 to compress time in benchmarks), from a seeded generator
so runs repeat. Requests are answered concurrently, each on its own thread, as a deployment serves them.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devstack.http_standin import JsonHandler, LoopbackServer

V1_PATH = "/openai/v1"
API_KEY_HEADER = "api-key"
# Azure's answers for a wrong key and a missing deployment (messages as the service words them).
UNAUTHORIZED = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a"
        " valid key for an active subscription and use a correct regional API endpoint for your resource.",
    }
}
DEPLOYMENT_NOT_FOUND = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the deployment within"
        " the last 5 minutes, please wait a moment and try again.",
    }
}
RESOURCE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}


@dataclass
class RecordedCall:
    model: str
    messages: list[dict[str, Any]]
    path: str
    max_tokens: int | None = None
    auth: str = ""  # "bearer" or "api-key": which header carried the key
    prompt_tokens: int = 0
    latency_seconds: float = 0.0


# z of the standard normal distribution's 95th percentile.
_Z95 = 1.6448536269514722


@dataclass(frozen=True)
class Latency:
    """A model's answer time: log-normal with median `p50_seconds` and 95th percentile `p95_seconds`, times `scale`."""

    p50_seconds: float
    p95_seconds: float
    scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.p50_seconds <= self.p95_seconds or self.scale <= 0:
            raise ValueError("latency needs 0 < p50 <= p95 and a positive scale")

    def sampler(self) -> random.Random:
        return random.Random(self.seed)

    def draw(self, rng: random.Random) -> float:
        sigma = math.log(self.p95_seconds / self.p50_seconds) / _Z95
        return rng.lognormvariate(math.log(self.p50_seconds), sigma) * self.scale


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


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": str(status), "message": message}}


class AzureAIStandIn(LoopbackServer):
    """`deployments`: the deployment names the resource has (others get 404); None accepts any name."""

    def __init__(self, api_key: str, deployments: set[str] | None = None, latency: Latency | None = None) -> None:
        super().__init__(_Handler)
        self.api_key = api_key
        self.deployments = None if deployments is None else frozenset(deployments)
        self.latency = latency
        self._rng = latency.sampler() if latency is not None else None
        self.calls: list[RecordedCall] = []
        self.controls = _Controls()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What AZURE_OPENAI_BASE_URL is set to locally (the SDK appends `/chat/completions`)."""
        return f"{self.url}{V1_PATH}"

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

    def _delay(self) -> float:
        with self._lock:
            if self.latency is None or self._rng is None:
                return 0.0
            return self.latency.draw(self._rng)

    def _next_failure(self) -> int | None:
        with self._lock:
            return self.controls.failures.pop(0) if self.controls.failures else None


class _Handler(JsonHandler):
    @property
    def standin(self) -> AzureAIStandIn:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def _auth(self) -> str:
        """Which header carried the right key ("" if none did)."""
        key = self.standin.api_key
        if self.headers.get(API_KEY_HEADER) == key:
            return "api-key"
        if self.headers.get("Authorization") == f"Bearer {key}":
            return "bearer"
        return ""

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        standin = self.standin
        body = self.read_body()
        if self.path.split("?")[0].rstrip("/") != f"{V1_PATH}/chat/completions":
            self.send_json(404, RESOURCE_NOT_FOUND)
            return
        auth = self._auth()
        if not auth:
            self.send_json(401, UNAUTHORIZED)
            return
        try:
            request = json.loads(body)
        except ValueError:
            self.send_json(400, _error(400, "the body is not JSON"))
            return
        model = request.get("model")
        messages = request.get("messages")
        if not isinstance(model, str) or not model:
            self.send_json(400, _error(400, "'model' (the deployment name) is required"))
            return
        if not isinstance(messages, list) or not messages:
            self.send_json(400, _error(400, "'messages' must be a non-empty array"))
            return
        if standin.deployments is not None and model not in standin.deployments:
            self.send_json(404, DEPLOYMENT_NOT_FOUND)
            return
        limit = request.get("max_completion_tokens", request.get("max_tokens"))
        max_tokens = int(limit) if isinstance(limit, int) and limit > 0 else None
        prompt_tokens = sum(len(text.split()) for text in _texts(messages)) + 85 * _has_image(messages)
        delay = standin._delay()
        with standin._lock:
            standin.calls.append(
                RecordedCall(
                    model=model,
                    messages=messages,
                    path=self.path,
                    max_tokens=max_tokens,
                    auth=auth,
                    prompt_tokens=prompt_tokens,
                    latency_seconds=delay,
                )
            )
        if delay:
            time.sleep(delay)
        controls = standin.controls
        if controls.hold.is_set():
            controls.arrived.set()
            controls.release.wait(60)
        failure = standin._next_failure()
        if failure is not None:
            self.send_json(failure, _error(failure, "stand-in failure"))
            return
        words = answer_for(model, messages).split()
        truncated = max_tokens is not None and len(words) > max_tokens
        content = " ".join(words[:max_tokens] if truncated else words)
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
                        "finish_reason": "length" if truncated else "stop",
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
