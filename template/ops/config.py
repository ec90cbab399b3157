"""What the ops read: the rendered plan values (infra/ops.json) and the environment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OPS_PLAN_PATH = REPO_ROOT / "infra" / "ops.json"
TEMPLATE_PATH = REPO_ROOT / "infra" / "stack.yaml"
APP_PLAN_PATH = REPO_ROOT / "app" / "plan.json"

# The variables the deploy copies into the app secret and into each published Lambda version.
SECRET_VARS = ("QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY", "AZURE_AI_API_KEY")
PLAIN_VARS = ("QSTASH_URL", "AZURE_AI_ENDPOINT")
DEFAULT_QSTASH_URL = "https://qstash.upstash.io"

# Every variable the ops read, with the comment the env file example should carry.
ENV_VARS: dict[str, str] = {
    "AWS_REGION": "region to deploy to; must be the plan's region",
    "AWS_PROFILE": "optional named AWS profile (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
    "STACK_NAME": "optional CloudFormation stack name (default: the project slug)",
    "PUBLIC_BASE_URL": "optional public URL QStash calls (default: the stack's Function URL)",
    "QSTASH_URL": "QStash API base URL (EU default https://qstash.upstash.io)",
    "QSTASH_TOKEN": "QStash API token (secret)",
    "QSTASH_CURRENT_SIGNING_KEY": "QStash current signing key (secret)",
    "QSTASH_NEXT_SIGNING_KEY": "QStash next signing key (secret)",
    "AZURE_AI_ENDPOINT": "Azure AI Foundry models endpoint",
    "AZURE_AI_API_KEY": "Azure AI key (secret)",
    "ENV_FILE": "optional env file the scripts load (default: .env.production.local)",
}

_HTTPS_OR_LOOPBACK = re.compile(r"^(https://|http://127\.0\.0\.1[:/])")


@dataclass(frozen=True)
class Budget:
    name: str
    limit_usd: float
    thresholds: tuple[int, ...]


@dataclass(frozen=True)
class OpsPlan:
    slug: str
    region: str
    stack_name: str
    sla_p95_ms: float
    sla_latency_samples: int
    alarm_names: tuple[str, ...]
    budget: Budget
    needs_azure_ai: bool

    @property
    def workers_function(self) -> str:
        return f"{self.slug}-workers"

    @classmethod
    def load(cls, path: Path = OPS_PLAN_PATH) -> OpsPlan:
        raw = json.loads(path.read_text(encoding="utf-8"))
        budget = raw["budget"]
        return cls(
            slug=raw["slug"],
            region=raw["region"],
            stack_name=raw["stack_name"],
            sla_p95_ms=float(raw["sla_p95_ms"]),
            sla_latency_samples=int(raw["sla_latency_samples"]),
            alarm_names=tuple(raw["alarm_names"]),
            budget=Budget(budget["name"], float(budget["limit_usd"]), tuple(budget["thresholds"])),
            needs_azure_ai=bool(raw["needs_azure_ai"]),
        )


@dataclass(frozen=True)
class OpsEnv:
    region: str
    stack_name: str
    public_base_url: str | None
    qstash_url: str
    values: dict[str, str]  # the secret and plain variables that were set (never printed)

    @classmethod
    def from_environ(cls, plan: OpsPlan, environ: Mapping[str, str] | None = None) -> OpsEnv:
        env = os.environ if environ is None else environ
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        values = {name: env[name] for name in (*SECRET_VARS, *PLAIN_VARS) if env.get(name)}
        return cls(
            region=region,
            stack_name=env.get("STACK_NAME") or plan.stack_name,
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            qstash_url=(env.get("QSTASH_URL") or DEFAULT_QSTASH_URL).rstrip("/"),
            values=values,
        )

    def problems(self, plan: OpsPlan, *, needs_secrets: bool) -> list[str]:
        """Every missing or wrong variable, one line each (empty when all is well)."""
        found: list[str] = []
        if not self.region:
            found.append(f"AWS_REGION is not set (the plan deploys to {plan.region})")
        elif self.region != plan.region:
            found.append(f"AWS_REGION is {self.region} but the plan deploys to {plan.region}")
        if self.public_base_url and not _HTTPS_OR_LOOPBACK.match(self.public_base_url):
            found.append("PUBLIC_BASE_URL must start with https://")
        if needs_secrets:
            required = ["QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"]
            if plan.needs_azure_ai:
                required += ["AZURE_AI_ENDPOINT", "AZURE_AI_API_KEY"]
            missing = [name for name in required if name not in self.values]
            found += [f"{name} is not set (see .env.production.local.example)" for name in missing]
        return found
