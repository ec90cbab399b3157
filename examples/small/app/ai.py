"""Chat completions on Azure AI Foundry through the OpenAI Python SDK (v1 endpoint), with usage recording.

Why this SDK: Microsoft retired the Azure AI Inference beta SDK (`azure-ai-inference`, the
`.../models` endpoint) on 2026-08-26 and moves callers to the OpenAI SDK against the resource's v1
endpoint. Source: "Migrate from Azure AI Inference SDK to OpenAI SDK",
https://learn.microsoft.com/en-us/azure/ai-foundry/how-to/model-inference-to-openai-migration
(read 2026-11-25): `OpenAI(api_key=..., base_url="https://<resource>.openai.azure.com/openai/v1/")`,
no `api-version` parameter on v1, and `model` is required and is the DEPLOYMENT name. The plan's model
name is used as the deployment name (QUICK-START.md says to deploy each model under exactly that name).

One client per container (built once by `app.resources`, reused by warm Lambdas): a short connect
timeout, the read timeout and a bounded number of retries from the settings. The retries are this module's,
not the SDK's: they retry what the SDK would (408/409/429/5xx, connection errors, timeouts) with its backoff
and Retry-After, but never past the job's deadline, so a slow or throttled model ends the message as a
retryable failure (QStash delivers it again) instead of outliving it.
"""

from __future__ import annotations

import math
import time

from openai import APIConnectionError, APIStatusError, APITimeoutError, AuthenticationError, OpenAI, Timeout

from app.errors import PermanentJobError, RetryableJobError
from app.plan import Plan

# The messages and the completion live in app/prompts.py (no SDK import): worker modules, the job bookkeeping
# and the prompt budget load without the SDK; app.resources imports this module for the first model call.
from app.prompts import ChatMessage as ChatMessage
from app.prompts import Completion as Completion
from app.prompts import image_prompt as image_prompt
from app.prompts import text_prompt as text_prompt
from app.secrets import AppSecrets
from app.settings import Settings

# A model endpoint that does not accept a connection within this many seconds is down, whatever the
# read timeout (which must cover a whole generation) says.
CONNECT_TIMEOUT_SECONDS = 5.0
# The request itself can never pass: malformed, too large, or refused by the content filter.
_PERMANENT_STATUSES = frozenset({400, 413, 422})
# What the SDK itself retries, and its backoff (openai-python `_base_client`: 0.5 s doubling up to 8 s).
_RETRIED_STATUSES = frozenset({408, 409, 429})
_FIRST_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 8.0
_MAX_RETRY_AFTER_SECONDS = 60.0  # a longer Retry-After is not waited for: QStash's redelivery is


def deployments(plan: Plan) -> list[str]:
    """The Foundry deployments the plan's workers call, in plan order: each model's name IS its deployment name."""
    return list(dict.fromkeys(worker.model for worker in plan.workers if worker.model))


def create_ai_client(settings: Settings, secrets: AppSecrets | None = None) -> OpenAI | None:
    """None when no base URL is configured: the SDK would otherwise default to api.openai.com. With `secrets`
    the key is asked for at each request (the app secret's on AWS, cached; see app/secrets.py)."""
    if not settings.azure_openai_base_url:
        return None

    def current_key() -> str:
        assert secrets is not None
        # The SDK refuses an empty key; an unset one locally is answered 401 by the endpoint instead.
        return secrets.get("AZURE_OPENAI_API_KEY") or "unset"

    return OpenAI(
        base_url=settings.azure_openai_base_url,
        api_key=current_key if secrets is not None else settings.azure_openai_api_key.get_secret_value() or "unset",
        timeout=Timeout(settings.azure_openai_timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS),
        max_retries=settings.azure_openai_max_retries,
    )


def _status(exc: APIStatusError) -> str:
    # Azure answers {"error": {"code": ..., "message": ...}}; the SDK exposes the inner code.
    code = exc.code if exc.code and exc.code != str(exc.status_code) else ""
    return f"{exc.status_code} {code}".strip()


class AIService:
    """Calls a model deployment and hands back text plus token usage; the caller records the usage."""

    def __init__(self, client: OpenAI | None, secrets: AppSecrets | None = None) -> None:
        self._client = client
        self._secrets = secrets
        # The configured retries are run here (see the module docstring); the SDK makes one attempt per call.
        self._retries = client.max_retries if client is not None else 0
        self._once = client.with_options(max_retries=0) if client is not None else None

    def complete(
        self,
        *,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        deadline: float | None = None,
    ) -> Completion:
        """`deadline`: a `time.monotonic()` instant no attempt or backoff may pass (None: the read timeout only)."""
        if self._client is None or self._once is None:
            # A configuration gap, not this input's fault: the message passes once the variable is set.
            raise RetryableJobError(f"model {model} not called: AZURE_OPENAI_BASE_URL is not set")
        attempt = 0
        key_reread = False
        while True:
            timeout = self._attempt_timeout(model, deadline)
            try:
                response = self._once.chat.completions.create(
                    model=model, messages=messages, max_tokens=max_tokens, timeout=timeout
                )
                break
            except (APIStatusError, APIConnectionError) as exc:
                # 401: the key may have been rotated since this container read it; one more try if it changed.
                if isinstance(exc, AuthenticationError) and not key_reread and self._key_changed():
                    key_reread = True
                    continue
                error = _classify(model, exc, deadline)
                wait = _backoff(attempt, exc)
                if not _retried(exc) or attempt >= self._retries or not _fits(deadline, wait):
                    raise error from exc
            attempt += 1
            time.sleep(wait)
        usage = response.usage
        content = response.choices[0].message.content if response.choices else None
        return Completion(
            model=model,
            text=str(content or ""),
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
        )

    def _key_changed(self) -> bool:
        if self._secrets is None:
            return False
        return self._secrets.refresh({"AZURE_OPENAI_API_KEY": self._secrets.get("AZURE_OPENAI_API_KEY")})

    def _attempt_timeout(self, model: str, deadline: float | None) -> Timeout:
        """The client's timeouts, shortened to what is left before the deadline."""
        assert self._client is not None
        configured = self._client.timeout
        read = configured.read if isinstance(configured, Timeout) else configured
        if deadline is None:
            return Timeout(read, connect=CONNECT_TIMEOUT_SECONDS)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RetryableJobError(f"model {model} not called: the message's deadline has passed")
        return Timeout(
            remaining if read is None else min(read, remaining), connect=min(CONNECT_TIMEOUT_SECONDS, remaining)
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _classify(model: str, exc: APIStatusError | APIConnectionError, deadline: float | None) -> Exception:
    if isinstance(exc, APIStatusError):
        if exc.status_code == 404:
            return PermanentJobError(
                f"model deployment {model!r} not found at AZURE_OPENAI_BASE_URL ({_status(exc)}):"
                f" deploy {model} in Foundry under exactly this name"
            )
        if exc.status_code in _PERMANENT_STATUSES:
            return PermanentJobError(f"model {model} rejected the request ({_status(exc)})")
        # 408/429/5xx after the retries, and 401/403: a key or quota problem, not this input's.
        return RetryableJobError(f"model {model} failed ({_status(exc)})")
    if isinstance(exc, APITimeoutError):
        if deadline is not None and deadline - time.monotonic() <= 0:
            return RetryableJobError(f"model {model} timed out at the message's deadline")
        return RetryableJobError(f"model {model} timed out")
    return RetryableJobError(f"model {model} unreachable: {type(exc.__cause__ or exc).__name__}")


def _retried(exc: APIStatusError | APIConnectionError) -> bool:
    if isinstance(exc, APIStatusError):
        return exc.status_code in _RETRIED_STATUSES or exc.status_code >= 500
    return True  # connection errors and timeouts


def _backoff(attempt: int, exc: Exception) -> float:
    """Retry-After when the endpoint sends one (Azure does on 429), else the SDK's exponential backoff."""
    if isinstance(exc, APIStatusError):
        header = exc.response.headers.get("retry-after")
        try:
            seconds = float(header) if header is not None else math.nan
        except ValueError:
            seconds = math.nan
        if 0 <= seconds <= _MAX_RETRY_AFTER_SECONDS:
            return seconds
    return float(min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2**attempt))


def _fits(deadline: float | None, wait: float) -> bool:
    return deadline is None or time.monotonic() + wait < deadline
