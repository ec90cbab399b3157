"""Deploy preflight: does the Foundry resource answer, accept the key and have every deployment the plan calls?

Each deployment gets one minimal chat completion (one output token) through the same SDK the workers use,
so a wrong key, a wrong or retired endpoint, or a deployment named differently from the plan's model shows
up before the deploy, one line each, instead of as failing jobs afterwards. The probe costs a few tokens.

Wire facts (read 2026-11-25): "Migrate from Azure AI Inference SDK to OpenAI SDK",
https://learn.microsoft.com/en-us/azure/ai-foundry/how-to/model-inference-to-openai-migration: the base URL is
`https://<resource>.openai.azure.com/openai/v1/`, `model` is the deployment name. Azure answers an unknown
deployment with 404 and error code `DeploymentNotFound`, a wrong key with 401.
"""

from __future__ import annotations

from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAI, Timeout

from app.ai import deployments as plan_deployments
from app.plan import load_plan
from app.settings import DEFAULT_PLAN_PATH, V1_BASE_URL_EXAMPLE, is_v1_base_url

_PROBE = "Reply with OK."
_CONNECT_TIMEOUT_SECONDS = 5.0


def deployments_from_plan() -> list[str]:
    """The deployments the rendered plan's workers call (app/plan.json), for `azure_problems`."""
    return plan_deployments(load_plan(DEFAULT_PLAN_PATH))


def _shape_problem(base_url: str) -> str | None:
    # Loopback http is the local stand-in; anything else must be the resource's https v1 endpoint.
    loopback = base_url.startswith("http://127.0.0.1:")
    if not is_v1_base_url(base_url, https_only=not loopback):
        return (
            f"AZURE_OPENAI_BASE_URL {base_url!r} is not a Foundry v1 endpoint: it must be https and end in"
            f" /openai/v1, e.g. {V1_BASE_URL_EXAMPLE}"
        )
    return None


def azure_problems(base_url: str, api_key: str, deployments: list[str], *, timeout: float = 10.0) -> list[str]:
    """One line per problem (key rejected, endpoint unreachable or not v1, deployment missing); [] if all answer."""
    if not base_url:
        return ["AZURE_OPENAI_BASE_URL is not set"]
    shape = _shape_problem(base_url)
    if shape:
        return [shape]
    if not api_key:
        return ["AZURE_OPENAI_API_KEY is not set"]
    found: list[str] = []
    with OpenAI(
        base_url=base_url,
        api_key=api_key,
        timeout=Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT_SECONDS)),
        max_retries=0,  # a probe reports what it sees; the workers retry
    ) as client:
        for deployment in dict.fromkeys(deployments):
            try:
                client.chat.completions.create(
                    model=deployment, messages=[{"role": "user", "content": _PROBE}], max_tokens=1
                )
            except APIStatusError as exc:
                problem, stop = _status_problem(exc, base_url, deployment)
                found.append(problem)
                if stop:  # the key or the endpoint is wrong: every other deployment would say the same
                    break
            except APITimeoutError:
                found.append(f"AZURE_OPENAI_BASE_URL {base_url} did not answer within {timeout:g} s")
                break
            except APIConnectionError as exc:
                cause = exc.__cause__ or exc
                found.append(f"AZURE_OPENAI_BASE_URL {base_url} is unreachable ({type(cause).__name__})")
                break
    return found


def _status_problem(exc: APIStatusError, base_url: str, deployment: str) -> tuple[str, bool]:
    """The line for an error answer, and whether probing further deployments is pointless."""
    status = exc.status_code
    if status in (401, 403):
        return f"AZURE_OPENAI_API_KEY was rejected by {base_url} ({status}): use a key of that Foundry resource", True
    if status == 404 and exc.code == "DeploymentNotFound":
        return (
            f"deployment {deployment!r} not found at {base_url}: deploy the model {deployment} in Foundry under"
            " exactly this name",
            False,
        )
    if status == 404:
        return (
            f"AZURE_OPENAI_BASE_URL {base_url} answered 404 for chat completions: it is not a Foundry v1"
            f" endpoint (expected {V1_BASE_URL_EXAMPLE})",
            True,
        )
    detail = f", {exc.code}" if exc.code else ""
    return f"deployment {deployment!r} did not answer a one-token request ({status}{detail})", False
