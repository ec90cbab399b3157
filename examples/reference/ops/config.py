"""What the ops read: the rendered plan values (infra/ops.json) and the environment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.secrets import APP_SECRET_NAMES
from app.settings import V1_BASE_URL_EXAMPLE, is_v1_base_url

REPO_ROOT = Path(__file__).resolve().parent.parent
OPS_PLAN_PATH = REPO_ROOT / "infra" / "ops.json"
TEMPLATE_PATH = REPO_ROOT / "infra" / "stack.yaml"
APP_PLAN_PATH = REPO_ROOT / "app" / "plan.json"

# The variables the deploy writes into the app secret (the functions read them from there: never into a
# function's environment), and the plain ones it sets on each published Lambda version.
SECRET_VARS = APP_SECRET_NAMES
# The spend guard's two (app/spend_guard.py) are optional: set only when the env file gives them a value.
PLAIN_VARS = ("QSTASH_URL", "AZURE_OPENAI_BASE_URL", "AI_MONTHLY_CAP_USD", "BUDGET_ALERT_WEBHOOK_URL")

# Every variable the ops read, with the comment the env file example should carry.
ENV_VARS: dict[str, str] = {
    "AWS_REGION": "region to deploy to; must be the plan's region",
    "AWS_PROFILE": "optional named AWS profile (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
    "STACK_NAME": "optional CloudFormation stack name (default: the project slug)",
    "PUBLIC_BASE_URL": "optional public URL QStash calls (default: the stack's Function URL)",
    "QSTASH_URL": "QStash API base URL of the region the QStash account is in (required; no default)",
    "QSTASH_TOKEN": "QStash API token (secret)",
    "QSTASH_CURRENT_SIGNING_KEY": "QStash current signing key (secret)",
    "QSTASH_NEXT_SIGNING_KEY": "QStash next signing key (secret)",
    "AZURE_OPENAI_BASE_URL": "Foundry resource's v1 endpoint, https://<resource>.openai.azure.com/openai/v1/",
    "AZURE_OPENAI_API_KEY": "key of that Foundry resource (secret)",
    "AI_MONTHLY_CAP_USD": "optional monthly AI cap below the plan's ai_budget, set on the workers",
    "BUDGET_ALERT_WEBHOOK_URL": "optional URL the workers publish AI spend alerts to through QStash",
    "ENV_FILE": "optional env file the scripts load (default: .env.production.local)",
}

_HTTPS_OR_LOOPBACK = re.compile(r"^(https://|http://127\.0\.0\.1[:/])")


@dataclass(frozen=True)
class Budget:
    name: str
    limit_usd: float
    thresholds: tuple[int, ...]
    aws_estimate_low: float  # the plan's AWS lines at their low estimate: above the limit, the plan is over
    aws_estimate_high: float  # the plan's AWS lines at their high estimate: what the budget must hold


@dataclass(frozen=True)
class Database:
    engine: str
    engine_version: str  # the plan's major: the deploy resolves the region's default minor of it
    instance_class: str


@dataclass(frozen=True)
class Cache:
    engine: str
    engine_version: str  # the plan's major.minor: the deploy takes the region's newest of its major
    node_type: str

    @property
    def major(self) -> str:
        return self.engine_version.split(".")[0]


@dataclass(frozen=True)
class QStashRegion:
    id: str
    name: str
    url: str
    hosts: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.name} ({self.id}, {self.url})"


@dataclass(frozen=True)
class QStashRegions:
    """QStash's regions (each with its own tokens and signing keys) and the one the plan recommends."""

    recommended: str
    regions: tuple[QStashRegion, ...]

    def of_url(self, url: str) -> QStashRegion | None:
        parts = urlsplit(url)
        return next(
            (r for r in self.regions if parts.hostname in r.hosts or parts.netloc == urlsplit(r.url).netloc), None
        )

    def others(self, region: QStashRegion) -> tuple[QStashRegion, ...]:
        return tuple(r for r in self.regions if r != region)

    def choices(self) -> str:
        """Every region's URL, the recommended one first (for messages)."""
        ordered = sorted(self.regions, key=lambda r: r.id != self.recommended)
        return " or ".join(
            f"{r.url} ({r.name}{', recommended for this plan' if r.id == self.recommended else ''})" for r in ordered
        )


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
    reserved_concurrency: int
    database: Database
    cache: Cache
    qstash: QStashRegions
    cron_timeout_seconds: int
    task_invoke_margin_seconds: int
    predeploy_snapshots_kept: int
    lambda_python_version: str  # major.minor of the functions' runtime (python<version>)

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
            budget=Budget(
                budget["name"],
                float(budget["limit_usd"]),
                tuple(budget["thresholds"]),
                float(budget["aws_estimate_low"]),
                float(budget["aws_estimate_high"]),
            ),
            needs_azure_ai=bool(raw["needs_azure_ai"]),
            reserved_concurrency=int(raw["reserved_concurrency"]),
            database=Database(**raw["database"]),
            cache=Cache(**raw["cache"]),
            qstash=QStashRegions(
                recommended=raw["qstash"]["region"],
                regions=tuple(
                    QStashRegion(r["id"], r["name"], r["url"], tuple(r["hosts"])) for r in raw["qstash"]["regions"]
                ),
            ),
            cron_timeout_seconds=int(raw["cron_timeout_seconds"]),
            task_invoke_margin_seconds=int(raw["task_invoke_margin_seconds"]),
            predeploy_snapshots_kept=int(raw["predeploy_snapshots_kept"]),
            lambda_python_version=str(raw["lambda_python_version"]),
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
            # No default: QStash tokens and signing keys belong to one region (see QStashRegions).
            qstash_url=(env.get("QSTASH_URL") or "").rstrip("/"),
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
        azure_url = self.values.get("AZURE_OPENAI_BASE_URL", "")
        if azure_url and not (_HTTPS_OR_LOOPBACK.match(azure_url) and is_v1_base_url(azure_url, https_only=False)):
            found.append(f"AZURE_OPENAI_BASE_URL must be https and end in /openai/v1 (e.g. {V1_BASE_URL_EXAMPLE})")
        if not self.qstash_url and (needs_secrets or "QSTASH_TOKEN" in self.values):
            found.append(
                "QSTASH_URL is not set: QStash is regional and a token works in its own region only; set it to"
                f" {plan.qstash.choices()}, the region your QStash account is in"
            )
        if needs_secrets:
            required = ["QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"]
            if plan.needs_azure_ai:
                required += ["AZURE_OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY"]
            missing = [name for name in required if name not in self.values]
            found += [f"{name} is not set (see .env.production.local.example)" for name in missing]
        return found
