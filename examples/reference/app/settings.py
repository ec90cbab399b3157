"""Runtime configuration, read from the environment only (secrets never live in files)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PLAN_PATH = Path(__file__).with_name("plan.json")

# The Foundry resource's OpenAI v1 endpoint: "Migrate from Azure AI Inference SDK to OpenAI SDK",
# https://learn.microsoft.com/en-us/azure/ai-foundry/how-to/model-inference-to-openai-migration (read
# 2026-11-25) gives base_url="https://<resource>.openai.azure.com/openai/v1/" and no api-version.
V1_BASE_URL_EXAMPLE = "https://<resource>.openai.azure.com/openai/v1/"
_V1_PATH_SUFFIX = "/openai/v1"


def is_v1_base_url(url: str, *, https_only: bool) -> bool:
    """True for `https://host/.../openai/v1` (trailing slash optional); plain http only if allowed."""
    schemes = ("https://",) if https_only else ("https://", "http://")
    return url.startswith(schemes) and url.rstrip("/").endswith(_V1_PATH_SUFFIX)


# Every variable the service reads, with the one-line comment the env file example carries.
# Kept beside the settings class so the two cannot drift (a test compares them).
ENV_VARS: dict[str, str] = {
    "APP_ENV": "development | test | production; production demands https URLs and real keys",
    "PUBLIC_BASE_URL": "public base URL QStash calls (Lambda Function URL); signatures are checked against it",
    "PLAN_PATH": "optional override of the plan file (default: app/plan.json)",
    "DATABASE_URL": "PostgreSQL URL, e.g. postgresql://user:pass@host:5432/db?sslmode=require (secret)",
    "DATABASE_SECRET_ARN": "secret RDS manages: its user and password override DATABASE_URL's (on AWS; empty locally)",
    "DATABASE_POOL_MIN_SIZE": "connections kept open per process (Lambda: 1)",
    "DATABASE_POOL_MAX_SIZE": "upper bound of connections per process",
    "DATABASE_CONNECT_TIMEOUT_SECONDS": "connect timeout for PostgreSQL",
    "REDIS_URL": "Redis/Valkey URL (rediss:// for TLS), used for delivery dedupe and caches (secret)",
    "REDIS_TIMEOUT_SECONDS": "socket timeout for Redis commands",
    "REDIS_AUTH_SECRET_ARN": "secret holding the cache's AUTH token (set by the stack on AWS; empty locally)",
    "S3_BUCKET": "the S3 bucket the workers read and write (private, encrypted)",
    "AWS_REGION": "AWS region of the bucket",
    "S3_ENDPOINT_URL": "optional S3 endpoint override (local stand-ins only; empty on AWS)",
    "QSTASH_URL": "QStash API base URL of the region the token belongs to (QUICK-START names the one for this plan)",
    "APP_SECRET_ARN": "secret holding the four keys below (set by the stack on AWS, where they are not variables)",
    "QSTASH_TOKEN": "QStash API token, for publishing notifications and syncing schedules (secret)",
    "QSTASH_CURRENT_SIGNING_KEY": "QStash current signing key (secret)",
    "QSTASH_NEXT_SIGNING_KEY": "QStash next signing key, accepted during key rotation (secret)",
    "AZURE_OPENAI_BASE_URL": "Foundry resource's v1 endpoint, https://<resource>.openai.azure.com/openai/v1/",
    "AZURE_OPENAI_API_KEY": "key of that Foundry resource (secret)",
    "AZURE_OPENAI_TIMEOUT_SECONDS": "read timeout of one model call",
    "AZURE_OPENAI_MAX_RETRIES": "bounded retries of a model call on 408/429/5xx and connection errors",
    "AI_MONTHLY_CAP_USD": "optional lower monthly AI cap, USD (the plan's ai_budget applies when empty or higher)",
    "BUDGET_ALERT_WEBHOOK_URL": "optional URL the AI spend alerts are published to through QStash (empty: log only)",
    "HEALTH_TIMEOUT_SECONDS": "per-dependency timeout of GET /health",
    "LOG_LEVEL": "logging level (INFO by default)",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    app_env: Literal["development", "test", "production"] = "production"
    public_base_url: str
    plan_path: Path = DEFAULT_PLAN_PATH

    # On AWS the stack sets a DATABASE_URL without user or password, and the secret's replace them.
    database_url: SecretStr
    database_secret_arn: str = ""
    database_pool_min_size: int = Field(default=1, ge=0)
    database_pool_max_size: int = Field(default=10, ge=1)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    # On AWS the stack sets a REDIS_URL without password, and the cache's AUTH token comes from this secret.
    redis_url: SecretStr
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_auth_secret_arn: str = ""

    s3_bucket: str
    aws_region: str = "us-east-1"
    s3_endpoint_url: str | None = None

    # No default: QStash is regional (a token and its keys work in one region), so a silent EU default would
    # send a US account's calls to the wrong region (https://upstash.com/docs/qstash/howto/multi-region).
    qstash_url: str = ""
    # On AWS the QStash and Azure AI keys are not variables: app/secrets.py reads them from this secret.
    app_secret_arn: str = ""
    qstash_token: SecretStr = SecretStr("")
    qstash_current_signing_key: SecretStr = SecretStr("")
    qstash_next_signing_key: SecretStr = SecretStr("")

    # Empty when the plan has no AI worker; the AI client then refuses to call (see app/ai.py).
    azure_openai_base_url: str = ""
    azure_openai_api_key: SecretStr = SecretStr("")
    azure_openai_timeout_seconds: float = Field(default=60.0, gt=0)
    azure_openai_max_retries: int = Field(default=2, ge=0, le=5)

    # The spend guard (app/spend_guard.py): a cap below the plan's ai_budget, and where its alerts are published.
    ai_monthly_cap_usd: Decimal | None = Field(default=None, ge=0)
    budget_alert_webhook_url: str = ""

    health_timeout_seconds: float = Field(default=2.0, gt=0)
    log_level: str = "INFO"

    @field_validator("public_base_url", "qstash_url", "azure_openai_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("s3_endpoint_url", "ai_monthly_cap_usd", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        # Signature checks bind to the public URL; a plain-http or missing key would make them meaningless.
        # With APP_SECRET_ARN the keys are in that secret, checked when it is read (app/secrets.py).
        if not self.app_secret_arn:
            if not self.qstash_current_signing_key.get_secret_value():
                raise ValueError("QSTASH_CURRENT_SIGNING_KEY is required (or APP_SECRET_ARN naming the secret of keys)")
            if not self.qstash_next_signing_key.get_secret_value():
                raise ValueError("QSTASH_NEXT_SIGNING_KEY is required (or APP_SECRET_ARN naming the secret of keys)")
        if self.app_env == "production":
            if not self.public_base_url.startswith("https://"):
                raise ValueError("PUBLIC_BASE_URL must be https in production")
            if not self.qstash_url:
                raise ValueError("QSTASH_URL is required: the API URL of the QStash region of your token")
            key_set = bool(self.app_secret_arn or self.azure_openai_api_key.get_secret_value())
            if self.azure_openai_base_url and not key_set:
                raise ValueError("AZURE_OPENAI_API_KEY is required with AZURE_OPENAI_BASE_URL (or APP_SECRET_ARN)")
            if self.s3_endpoint_url is not None:
                raise ValueError("S3_ENDPOINT_URL is for local stand-ins only")
        # The retired `.../models` endpoint and plain http (outside local stand-ins) would fail every call.
        production = self.app_env == "production"
        if self.azure_openai_base_url and not is_v1_base_url(self.azure_openai_base_url, https_only=production):
            scheme = "be https and " if production else ""
            raise ValueError(
                f"AZURE_OPENAI_BASE_URL must {scheme}end in /openai/v1 (the Foundry resource's v1 endpoint,"
                f" {V1_BASE_URL_EXAMPLE})"
            )
        return self

    def route_url(self, route: str) -> str:
        return f"{self.public_base_url}{route}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment
