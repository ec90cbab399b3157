"""Chat completions on Azure AI Foundry through the resource's OpenAI v1 endpoint, with usage recording.

Why this endpoint: Microsoft retired the Azure AI Inference beta SDK (`azure-ai-inference`, the `.../models`
endpoint) on 2026-08-26 and moves callers to the resource's OpenAI v1 endpoint. Source: "Migrate from Azure AI
Inference SDK to OpenAI SDK", https://learn.microsoft.com/en-us/azure/ai-foundry/how-to/model-inference-to-openai-migration
(read 2026-11-25): base URL `https://<resource>.openai.azure.com/openai/v1/`, no `api-version` parameter on v1,
and `model` is required and is the DEPLOYMENT name. The plan's model name is used as the deployment name
(QUICK-START.md says to deploy each model under exactly that name).

Why not the OpenAI SDK: the service makes one call, and `import openai` (about 700 pydantic models) costs a cold
Lambda ~0.27 s, more than the bare FastAPI app starts in (benchmarks/cold_start.py). The call is one POST with
httpx, which the qstash SDK already loads. The wire format is Microsoft's: "Azure OpenAI v1 REST API reference,
Create chat completion", https://learn.microsoft.com/en-us/azure/ai-foundry/openai/latest (read 2026-11-25):
`POST {endpoint}/openai/v1/chat/completions`, the key in the `api-key` header, the answer's
`choices[].message.content` and `usage.{prompt_tokens,completion_tokens}`, errors as `{"error": {"code",
"message"}}`. The tests run it against devstack/azure_ai.py, a loopback server speaking that format.

One client per container (built once by `app.resources`, reused by warm Lambdas): a short connect timeout, the
read timeout and a bounded number of retries from the settings. Retried: what the OpenAI SDK retries
(408/409/429/5xx, connection errors, timeouts) with its backoff and Retry-After, but never past the job's
deadline, so a slow or throttled model ends the message as a retryable failure (QStash delivers it again)
instead of outliving it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from app.errors import PermanentJobError, RetryableJobError
from app.plan import Plan

# The messages and the completion live in app/prompts.py (no HTTP client): worker modules, the job bookkeeping
# and the prompt budget load without it; app.resources imports this module for the first model call.
from app.prompts import ChatMessage as ChatMessage
from app.prompts import Completion as Completion
from app.prompts import image_prompt as image_prompt
from app.prompts import text_prompt as text_prompt
from app.secrets import AppSecrets
from app.settings import Settings

# A model endpoint that does not accept a connection within this many seconds is down, whatever the
# read timeout (which must cover a whole generation) says.
CONNECT_TIMEOUT_SECONDS = 5.0
API_KEY_HEADER = "api-key"
# The request itself can never pass: malformed, too large, or refused by the content filter.
_PERMANENT_STATUSES = frozenset({400, 413, 422})
# What the OpenAI SDK retries, and its backoff (openai-python `_base_client`: 0.5 s doubling up to 8 s).
_RETRIED_STATUSES = frozenset({408, 409, 429})
_FIRST_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 8.0
_MAX_RETRY_AFTER_SECONDS = 60.0  # a longer Retry-After is not waited for: QStash's redelivery is


def deployments(plan: Plan) -> list[str]:
    """The Foundry deployments the plan's workers call, in plan order: each model's name IS its deployment name."""
    return list(dict.fromkeys(worker.model for worker in plan.workers if worker.model))


class ModelHTTPError(Exception):
    """The endpoint answered with an error status; `code` is Azure's `error.code` when it differs from it."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.code = _error_code(response)
        super().__init__(f"{self.status_code} {self.code}".strip())


class AIClient:
    """POSTs chat completions to one v1 endpoint; one attempt per call (AIService runs the retries)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        read_timeout_seconds: float,
        max_retries: int,
        secrets: AppSecrets | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.read_timeout_seconds = read_timeout_seconds
        self.max_retries = max_retries
        self._api_key = api_key
        self._secrets = secrets
        self._http = httpx.Client(follow_redirects=False)

    def api_key(self) -> str:
        """The app secret's key on AWS (cached; see app/secrets.py), else the configured one ("" when unset:
        the request goes without it and the endpoint answers 401)."""
        if self._secrets is not None:
            return self._secrets.get("AZURE_OPENAI_API_KEY")
        return self._api_key or ""

    def create(self, *, model: str, messages: list[ChatMessage], max_tokens: int, timeout: httpx.Timeout) -> Any:
        """The decoded JSON answer; ModelHTTPError for an error status, httpx.RequestError when unreachable."""
        key = self.api_key()
        headers = {API_KEY_HEADER: key} if key else {}
        response = self._http.post(
            self.url,
            json={"model": model, "messages": messages, "max_tokens": max_tokens},
            headers=headers,
            timeout=timeout,
        )
        if not response.is_success:
            raise ModelHTTPError(response)
        return response.json()

    def close(self) -> None:
        self._http.close()


def create_ai_client(settings: Settings, secrets: AppSecrets | None = None) -> AIClient | None:
    """None when no base URL is configured: nothing is called then (no default endpoint to send the key to).
    With `secrets` the key is asked for at each request (the app secret's on AWS, cached; see app/secrets.py)."""
    if not settings.azure_openai_base_url:
        return None
    return AIClient(
        settings.azure_openai_base_url,
        None if secrets is not None else settings.azure_openai_api_key.get_secret_value(),
        read_timeout_seconds=settings.azure_openai_timeout_seconds,
        max_retries=settings.azure_openai_max_retries,
        secrets=secrets,
    )


def _error_code(response: httpx.Response) -> str:
    # Azure answers {"error": {"code": ..., "message": ...}}; the status alone when the code only repeats it.
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code and str(code) != str(response.status_code) else ""


class AIService:
    """Calls a model deployment and hands back text plus token usage; the caller records the usage."""

    def __init__(self, client: AIClient | None, secrets: AppSecrets | None = None) -> None:
        self._client = client
        self._secrets = secrets
        # The configured retries are run here (see the module docstring); the client makes one attempt per call.
        self._retries = client.max_retries if client is not None else 0

    def complete(
        self,
        *,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        deadline: float | None = None,
    ) -> Completion:
        """`deadline`: a `time.monotonic()` instant no attempt or backoff may pass (None: the read timeout only)."""
        if self._client is None:
            # A configuration gap, not this input's fault: the message passes once the variable is set.
            raise RetryableJobError(f"model {model} not called: AZURE_OPENAI_BASE_URL is not set")
        attempt = 0
        key_reread = False
        while True:
            timeout = self._attempt_timeout(model, deadline)
            try:
                answer = self._client.create(model=model, messages=messages, max_tokens=max_tokens, timeout=timeout)
                break
            except (ModelHTTPError, httpx.RequestError) as exc:
                # 401: the key may have been rotated since this container read it; one more try if it changed.
                if _status_code(exc) == 401 and not key_reread and self._key_changed():
                    key_reread = True
                    continue
                error = _classify(model, exc, deadline)
                wait = _backoff(attempt, exc)
                if not _retried(exc) or attempt >= self._retries or not _fits(deadline, wait):
                    raise error from exc
            except ValueError as exc:  # a 2xx whose body is not JSON: not this input's fault
                raise RetryableJobError(f"model {model} answered a body that is not JSON") from exc
            attempt += 1
            time.sleep(wait)
        return _completion(model, answer)

    def _key_changed(self) -> bool:
        if self._secrets is None:
            return False
        return self._secrets.refresh({"AZURE_OPENAI_API_KEY": self._secrets.get("AZURE_OPENAI_API_KEY")})

    def _attempt_timeout(self, model: str, deadline: float | None) -> httpx.Timeout:
        """The client's timeouts, shortened to what is left before the deadline."""
        assert self._client is not None
        read = self._client.read_timeout_seconds
        if deadline is None:
            return httpx.Timeout(read, connect=CONNECT_TIMEOUT_SECONDS)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RetryableJobError(f"model {model} not called: the message's deadline has passed")
        return httpx.Timeout(min(read, remaining), connect=min(CONNECT_TIMEOUT_SECONDS, remaining))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _completion(model: str, answer: Any) -> Completion:
    """The first choice's text and the usage; what the answer lacks counts as empty (as the SDK read it)."""
    if not isinstance(answer, dict):
        raise RetryableJobError(f"model {model} answered {type(answer).__name__}, not a completion object")
    choices = answer.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = first.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    usage = answer.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        model=model,
        text=str(content or ""),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def _status_code(exc: Exception) -> int | None:
    return exc.status_code if isinstance(exc, ModelHTTPError) else None


def _classify(model: str, exc: ModelHTTPError | httpx.RequestError, deadline: float | None) -> Exception:
    if isinstance(exc, ModelHTTPError):
        if exc.status_code == 404:
            return PermanentJobError(
                f"model deployment {model!r} not found at AZURE_OPENAI_BASE_URL ({exc}):"
                f" deploy {model} in Foundry under exactly this name"
            )
        if exc.status_code in _PERMANENT_STATUSES:
            return PermanentJobError(f"model {model} rejected the request ({exc})")
        # 408/429/5xx after the retries, and 401/403: a key or quota problem, not this input's.
        return RetryableJobError(f"model {model} failed ({exc})")
    if isinstance(exc, httpx.TimeoutException):
        if deadline is not None and deadline - time.monotonic() <= 0:
            return RetryableJobError(f"model {model} timed out at the message's deadline")
        return RetryableJobError(f"model {model} timed out")
    return RetryableJobError(f"model {model} unreachable: {type(exc).__name__}")


def _retried(exc: ModelHTTPError | httpx.RequestError) -> bool:
    if isinstance(exc, ModelHTTPError):
        return exc.status_code in _RETRIED_STATUSES or exc.status_code >= 500
    return True  # connection errors and timeouts


def _backoff(attempt: int, exc: Exception) -> float:
    """Retry-After when the endpoint sends one (Azure does on 429), else the SDK's exponential backoff."""
    if isinstance(exc, ModelHTTPError):
        header = exc.headers.get("retry-after")
        try:
            seconds = float(header) if header is not None else math.nan
        except ValueError:
            seconds = math.nan
        if 0 <= seconds <= _MAX_RETRY_AFTER_SECONDS:
            return seconds
    return float(min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2**attempt))


def _fits(deadline: float | None, wait: float) -> bool:
    return deadline is None or time.monotonic() + wait < deadline
