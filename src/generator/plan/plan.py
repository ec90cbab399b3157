"""The plan: everything the template renders and `betagen estimate` shows, computed from the answers.

Pure: answers in, plan out. The JSON form of a plan (`Plan.model_dump(mode="json")`) is what
`betagen estimate --format json` prints and what the rendered docs are written from.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator import __version__
from generator.plan.advice import Advice, advise
from generator.plan.answers import Answers
from generator.plan.budget import Line, Totals
from generator.plan.capacity import WorkerCapacity
from generator.plan.catalog import Catalog, load_catalog
from generator.plan.claims import Correction, corrections
from generator.plan.comparison import HostingOption, hosting_comparison
from generator.plan.core import price_plan
from generator.plan.guard_rails import GuardRails, guard_rails
from generator.plan.limits import WorkerLimits
from generator.plan.rules import FAILURE_CALLBACK_ROUTE, Rule, Rules, load_rules
from generator.plan.scaling import ScalingRow, scaling_table
from generator.plan.sizing import Sizing

SCHEMA_VERSION = 1
# A worker's entry in app/plan.json (the rendered app's WorkerPlan reads these keys).
MANIFEST_WORKER_KEYS = {"name", "route", "trigger", "cron", "model", "model_use", "limits", "custom", "payload_example"}


class Project(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    slug: str


class WorkerPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    what: str
    route: str
    trigger: str
    cron: str | None
    every_minutes: int | None
    model: str | None
    model_use: str | None
    # What the worker's code obeys; the plan prices exactly these at its high estimate.
    limits: WorkerLimits
    # The founder's own worker (answer `custom_workers`), and the message body its scaffold was written for.
    custom: bool = False
    payload_example: dict[str, Any] | None = None


class DatabaseSession(BaseModel):
    """Settings of every worker database session (app/db.py); the reasons are in rules.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The workers' Lambda timeout: a statement or an open transaction cannot outlive the function.
    statement_timeout_ms: int
    idle_in_transaction_session_timeout_ms: int
    lock_timeout_ms: int
    keepalives_idle_seconds: int
    keepalives_interval_seconds: int
    keepalives_count: int
    # Unacknowledged data gives up after as long as the keepalives take to declare the peer gone.
    tcp_user_timeout_ms: int
    client_connection_check_interval_ms: int


def database_session_for(sizing: Sizing, rules: Rules) -> DatabaseSession:
    const = rules.constants
    lambda_ms = sizing.workers_lambda.timeout_seconds * 1000
    silent_peer_seconds = const.db_keepalives_idle_seconds + (
        const.db_keepalives_interval_seconds * const.db_keepalives_count
    )
    return DatabaseSession(
        statement_timeout_ms=lambda_ms,
        idle_in_transaction_session_timeout_ms=lambda_ms,
        lock_timeout_ms=min(const.db_lock_timeout_seconds * 1000, lambda_ms),
        keepalives_idle_seconds=const.db_keepalives_idle_seconds,
        keepalives_interval_seconds=const.db_keepalives_interval_seconds,
        keepalives_count=const.db_keepalives_count,
        tcp_user_timeout_ms=silent_peer_seconds * 1000,
        client_connection_check_interval_ms=const.db_client_connection_check_interval_seconds * 1000,
    )


class Runtime(BaseModel):
    """Limits and settings the rendered workers and docs share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qstash_retries: int
    qstash_timeout_seconds: int
    qstash_backoff_seconds: tuple[int, ...]
    dedupe_ttl_seconds: int
    max_body_bytes: int
    failure_callback_route: str
    video_max_bytes: int
    video_allowed_content_types: tuple[str, ...]
    trends_cache_ttl_seconds: int
    trends_window_days: int
    alerts_window_minutes: int
    sla_p95_ms: int
    sla_uptime_pct: float
    sla_latency_samples: int
    signature_clock_tolerance_seconds: int
    secret_reread_min_interval_seconds: int
    database: DatabaseSession
    # QStash flow control on every message to the workers: at most this many deliveries in flight, the
    # workers' reserved concurrency, whether or not the account can reserve it.
    flow_control_parallelism: int
    predeploy_snapshots_kept: int
    task_invoke_margin_seconds: int
    # major.minor of the functions' Lambda runtime (python<version>): CI tests it, the release compiles for it.
    lambda_python_version: str


def qstash_backoff(retries: int, base: float, cap: int) -> tuple[int, ...]:
    """QStash's documented retry delays: min(cap, e^(base * n)) seconds for retry n."""
    return tuple(int(min(cap, math.exp(base * n))) for n in range(1, retries + 1))


def runtime_for(sizing: Sizing, rules: Rules) -> Runtime:
    const = rules.constants
    return Runtime(
        qstash_retries=sizing.qstash.retries,
        qstash_timeout_seconds=sizing.qstash.timeout_seconds,
        qstash_backoff_seconds=qstash_backoff(
            sizing.qstash.retries, const.qstash_backoff_base, const.qstash_backoff_cap_seconds
        ),
        dedupe_ttl_seconds=const.dedupe_ttl_seconds,
        max_body_bytes=const.max_body_bytes,
        failure_callback_route=FAILURE_CALLBACK_ROUTE,
        video_max_bytes=const.video_max_bytes,
        video_allowed_content_types=const.video_allowed_content_types,
        trends_cache_ttl_seconds=const.trends_cache_ttl_seconds,
        trends_window_days=const.trends_window_days,
        alerts_window_minutes=const.alerts_window_minutes,
        sla_p95_ms=const.sla_p95_ms,
        sla_uptime_pct=const.sla_uptime_pct,
        sla_latency_samples=const.sla_latency_samples,
        signature_clock_tolerance_seconds=const.signature_clock_tolerance_seconds,
        secret_reread_min_interval_seconds=const.secret_reread_min_interval_seconds,
        database=database_session_for(sizing, rules),
        flow_control_parallelism=sizing.workers_lambda.reserved_concurrency,
        predeploy_snapshots_kept=const.predeploy_snapshots_kept,
        task_invoke_margin_seconds=const.task_invoke_margin_seconds,
        lambda_python_version=const.lambda_python_version,
    )


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int
    generator_version: str
    catalog_as_of: str
    project: Project
    answers: dict[str, Any]
    hosting_profile: str
    sizing: Sizing
    runtime: Runtime
    workers: tuple[WorkerPlan, ...]
    rules_applied: tuple[Rule, ...]
    lines: tuple[Line, ...]
    totals: Totals
    guard_rails: GuardRails
    hosting_comparison: tuple[HostingOption, ...]
    scaling: tuple[ScalingRow, ...]
    corrections: tuple[Correction, ...]
    # The most users each fanned-out cron worker serves within its schedule's period.
    capacity: dict[str, WorkerCapacity]
    advice: Advice | None

    def worker_manifest(self) -> dict[str, Any]:
        """What the rendered workers read at run time (`app/plan.json`)."""
        rt = self.runtime
        chosen = {w.name for w in self.workers}
        manifest: dict[str, Any] = {
            "project": self.project.model_dump(),
            "workers": [w.model_dump(include=MANIFEST_WORKER_KEYS) for w in self.workers],
            # The tick publishes its chunk messages in QStash batches of at most this many.
            "fanout": {"publish_batch_size": self.sizing.fanout_publish_batch_size},
            "qstash": {
                "retries": rt.qstash_retries,
                "timeout_seconds": rt.qstash_timeout_seconds,
                "dedupe_ttl_seconds": rt.dedupe_ttl_seconds,
                "max_body_bytes": rt.max_body_bytes,
                "failure_callback_route": rt.failure_callback_route,
                "signature_clock_tolerance_seconds": rt.signature_clock_tolerance_seconds,
                "flow_control": {"key": f"{self.project.slug}-workers", "parallelism": rt.flow_control_parallelism},
            },
            "database": rt.database.model_dump(),
            "secrets": {"reread_min_interval_seconds": rt.secret_reread_min_interval_seconds},
            "spend_guard": self._spend_guard(),
        }
        # Only the chosen workers' settings: an unchosen worker leaves no trace in the rendered repo.
        if "video_processing" in chosen:
            manifest["video"] = {
                "max_bytes": rt.video_max_bytes,
                "allowed_content_types": list(rt.video_allowed_content_types),
            }
        if "content_trends" in chosen:
            manifest["trends"] = {
                "cache_ttl_seconds": rt.trends_cache_ttl_seconds,
                "window_days": rt.trends_window_days,
            }
        if "alert_checker" in chosen:
            manifest["alerts"] = {"window_minutes": rt.alerts_window_minutes}
        return manifest

    def _spend_guard(self) -> dict[str, Any]:
        """What the rendered spend guard (app/spend_guard.py) enforces: the AI budget as a monthly cap, the alert
        thresholds, and the price of each model the workers call, as the plan priced it."""
        prices: dict[str, dict[str, float]] = {}
        for line in self.lines:
            model, _, direction = line.price_id.removeprefix("azure.").rpartition(".")
            if line.budget == "ai" and direction in ("input", "output"):
                prices.setdefault(model, {})[f"{direction}_usd_per_1m"] = float(line.unit_price)
        return {
            "monthly_cap_usd": float(self.totals.ai.limit),
            "alert_thresholds_pct": list(self.guard_rails.budget_alert_thresholds),
            "models": prices,
        }


def build_plan(answers: Answers, catalog: Catalog | None = None, rules: Rules | None = None) -> Plan:
    catalog = catalog or load_catalog()
    rules = rules or load_rules()
    priced = price_plan(answers, catalog, rules)
    schedules = {s.worker: s for s in priced.sizing.qstash.schedules}
    workers = tuple(
        WorkerPlan(
            name=name,
            title=spec.title,
            what=spec.what,
            route=spec.route,
            trigger=spec.trigger,
            cron=schedules[name].cron if name in schedules else None,
            every_minutes=schedules[name].every_minutes if name in schedules else None,
            model=answers.model_for(spec.model_use) if spec.model_use else None,
            model_use=spec.model_use,
            limits=priced.sizing.worker_limits[name],
        )
        for name in answers.workers
        for spec in [rules.workers[name]]
    ) + tuple(
        WorkerPlan(
            name=w.name,
            title=w.title,
            what=f"Your own {w.trigger} worker (answer custom_workers): app/workers/custom/{w.name}.py",
            route=w.route,
            trigger=w.trigger,
            cron=w.schedule,
            every_minutes=None,
            model=w.model,
            model_use=None,
            limits=priced.sizing.worker_limits[w.name],
            custom=True,
            payload_example=w.payload_example,
        )
        for w in answers.custom_workers
    )
    return Plan(
        schema_version=SCHEMA_VERSION,
        generator_version=__version__,
        catalog_as_of=catalog.catalog_as_of,
        project=Project(name=answers.project_name, slug=answers.project_slug),
        answers=answers.model_dump(mode="json"),
        hosting_profile=answers.hosting_profile,
        sizing=priced.sizing,
        runtime=runtime_for(priced.sizing, rules),
        workers=workers,
        rules_applied=rules.rules,
        lines=priced.lines,
        totals=priced.totals,
        guard_rails=guard_rails(answers, priced, rules),
        hosting_comparison=tuple(hosting_comparison(answers, priced, catalog)),
        scaling=tuple(scaling_table(answers, rules)),
        corrections=tuple(corrections(answers, rules, catalog)),
        capacity=priced.capacity,
        advice=advise(answers, priced, rules, catalog),
    )
