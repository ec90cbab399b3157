"""Sizing and architecture rules, loaded from `data/rules.yaml` and validated."""

from __future__ import annotations

from functools import cache
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.plan.data_files import load_yaml

# Where QStash reports a message whose retries ran out (app/api.py serves it beside the workers' routes).
FAILURE_CALLBACK_ROUTE = "/workers/failed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tier(_Frozen):
    """A named stage of growth, for the docs: it sizes nothing (each component has its own steps)."""

    name: str
    max_users: int
    why: str


class Step(_Frozen):
    """One step of a component: it applies from `from_users` until the component's next step."""

    from_users: int = Field(ge=1)
    why: str

    def label(self) -> str:
        raise NotImplementedError


class AvailabilityStep(Step):
    target_pct: float = Field(gt=0, lt=100)

    def label(self) -> str:
        return f"{self.target_pct:g}%"


class DatabaseStep(Step):
    instance_class: str
    memory_gib: float = Field(gt=0)

    def label(self) -> str:
        return self.instance_class


class CacheNodeStep(Step):
    node_type: str

    def label(self) -> str:
        return self.node_type


class CacheReplicasStep(Step):
    count: int = Field(ge=0)

    def label(self) -> str:
        return str(self.count)


class NatGatewaysStep(Step):
    count: int = Field(ge=1)

    def label(self) -> str:
        return str(self.count)


class LambdaMemoryStep(Step):
    memory_mb: int = Field(ge=128, le=10240)

    def label(self) -> str:
        return f"{self.memory_mb:,} MB"


class ConcurrencyStep(Step):
    count: int = Field(ge=1)

    def label(self) -> str:
        return f"{self.count} in flight"


StepT = TypeVar("StepT", bound=Step)


def step_at(steps: tuple[StepT, ...], users: int) -> StepT:
    """The step that applies to `users`: the last one starting at or below it."""
    return [s for s in steps if s.from_users <= users][-1]


# The components that step, in the order the scaling table names them, with their display names.
COMPONENTS: dict[str, str] = {
    "availability": "uptime target",
    "database": "database",
    "cache_node": "cache node",
    "cache_replicas": "cache replicas",
    "nat_gateways": "NAT gateways",
    "lambda_memory": "worker memory",
    "reserved_concurrency": "worker concurrency",
}


class SizingSteps(_Frozen):
    """Each component's steps by user count (rules.yaml `sizing` says why each threshold is where it is)."""

    rds_min_storage_gb: int = Field(ge=20)
    # The uptime Amazon RDS commits to for a Single-AZ instance: a higher target needs Multi-AZ.
    single_az_uptime_pct: float = Field(gt=0, lt=100)
    availability: tuple[AvailabilityStep, ...]
    database: tuple[DatabaseStep, ...]
    cache_node: tuple[CacheNodeStep, ...]
    cache_replicas: tuple[CacheReplicasStep, ...]
    nat_gateways: tuple[NatGatewaysStep, ...]
    lambda_memory: tuple[LambdaMemoryStep, ...]
    reserved_concurrency: tuple[ConcurrencyStep, ...]

    @model_validator(mode="after")
    def _steps_ordered(self) -> SizingSteps:
        for name, steps in self.components().items():
            starts = [s.from_users for s in steps]
            if not starts or starts[0] != 1:
                raise ValueError(f"sizing.{name}: the first step must apply from_users 1")
            if starts != sorted(set(starts)):
                raise ValueError(f"sizing.{name}: steps must be ordered by from_users, each once")
        # The largest plans sustain their load: their database has no CPU credits to run out of.
        if self.database[-1].instance_class.startswith("db.t"):
            raise ValueError("sizing.database: the last step must be a non-burstable class (not db.t*)")
        if self.availability[-1].target_pct <= self.single_az_uptime_pct:
            raise ValueError("sizing.availability: the last step must need Multi-AZ")
        if self.nat_gateways[-1].count < 2 or self.cache_replicas[-1].count < 1:
            raise ValueError("sizing: the last steps must give a NAT gateway per AZ and a cache replica")
        return self

    def components(self) -> dict[str, tuple[Step, ...]]:
        return {name: getattr(self, name) for name in COMPONENTS}

    def at(self, component: str, users: int) -> Step:
        """The step of `component` that applies to `users`."""
        return step_at(self.components()[component], users)

    def breakpoints(self) -> list[int]:
        """Every user count at which some component steps (its first user at the new size)."""
        return sorted({s.from_users for steps in self.components().values() for s in steps if s.from_users > 1})


class Constants(_Frozen):
    rds_storage_headroom: float
    rds_backup_retention_days: int
    worker_timeout_seconds: int
    lambda_max_timeout_seconds: int
    message_deadline_ratio: float = Field(gt=0, lt=1)
    fanout_max_chunk_size: int = Field(ge=1)
    qstash_batch_max_bytes: int = Field(ge=1024)
    rollup_events_per_second: int = Field(ge=1)
    nat_bytes_per_token: float = Field(gt=0)
    nat_request_overhead_bytes: int = Field(ge=0)
    nat_message_bytes: int = Field(ge=1)
    db_connections_reserved: int = Field(ge=0)
    db_pool_per_lambda: int = Field(ge=1)
    cron_lambda_memory_mb: int
    cron_lambda_timeout_seconds: int
    qstash_retries: int
    dedupe_ttl_seconds: int
    max_body_bytes: int
    custom_worker_max_payload_bytes: int = Field(ge=1024)
    video_max_bytes: int
    video_allowed_content_types: tuple[str, ...]
    trends_cache_ttl_seconds: int
    trends_window_days: int
    alerts_window_minutes: int
    s3_noncurrent_version_days: int
    s3_abort_multipart_days: int
    s3_export_expiration_days: int
    secrets: int
    secrets_api_calls_per_invocation: float
    tight_ratio: float
    sla_p95_ms: int
    sla_uptime_pct: float
    sla_latency_samples: int
    signature_clock_tolerance_seconds: int = Field(ge=0, le=60)
    secret_reread_min_interval_seconds: int = Field(ge=1)
    db_lock_timeout_seconds: int = Field(ge=1)
    db_keepalives_idle_seconds: int = Field(ge=1)
    db_keepalives_interval_seconds: int = Field(ge=1)
    db_keepalives_count: int = Field(ge=1)
    db_client_connection_check_interval_seconds: int = Field(ge=1)
    predeploy_snapshots_kept: int = Field(ge=1)
    task_invoke_margin_seconds: int = Field(ge=1)
    lambda_python_version: str = Field(pattern=r"^3\.\d+$")
    qstash_backoff_base: float
    qstash_backoff_cap_seconds: int
    budget_alert_thresholds: tuple[int, ...]
    scaling_multipliers: tuple[int, ...]
    rds_engine_major_version: str
    cache_engine_versions: dict[Literal["valkey", "redis"], str]


class AlarmDef(_Frozen):
    id: str
    namespace: str
    metric: str
    statistic: str
    comparison: Literal["GreaterThanThreshold", "LessThanThreshold"]
    threshold: float
    of: Literal["storage_bytes", "max_connections", "timeout_ms", "nat_bytes_day"] | None = None
    # Lowest value of the plan quantity `of` scales (nat_bytes_day: GiB a day, before the split per gateway).
    floor: float | None = Field(default=None, gt=0)
    period_seconds: int
    per_nat_gateway: bool = False
    why: str


class Rule(_Frozen):
    id: str
    explanation: str


class HostingProfile(_Frozen):
    supported: bool
    summary: str


class WorkerLimitsDef(_Frozen):
    """What one worker's code obeys (rules.yaml explains each value); the plan derives the rest."""

    max_input_tokens: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    model_calls_per_unit: int = Field(ge=0)
    max_model_calls_per_user_per_day: int | None = Field(default=None, ge=1)
    fan_out: bool
    days_per_run: int | None = Field(default=None, ge=1)
    max_payload_bytes: int = Field(ge=1024)


class WorkerDef(_Frozen):
    route: str
    trigger: Literal["event", "cron"]
    schedule_field: str | None = None
    model_use: str | None
    title: str
    what: str
    limits: WorkerLimitsDef

    @model_validator(mode="after")
    def _limits_fit_the_model_use(self) -> WorkerDef:
        caps = (self.limits.max_input_tokens, self.limits.max_output_tokens)
        if self.model_use and (None in caps or self.limits.model_calls_per_unit < 1):
            raise ValueError(f"{self.route}: a worker that calls a model needs token caps and calls per unit")
        if not self.model_use and (caps != (None, None) or self.limits.model_calls_per_unit):
            raise ValueError(f"{self.route}: a worker without a model has no token caps or model calls")
        if self.limits.fan_out and self.trigger != "cron":
            raise ValueError(f"{self.route}: only cron work fans out")
        return self


class ModelUse(_Frozen):
    worker: str
    needs: tuple[str, ...]
    reference: str


class QStashRegion(_Frozen):
    """One of QStash's independent regions: its own tokens, signing keys, schedules and billing."""

    id: str
    name: str
    url: str
    hosts: tuple[str, ...]
    nearest_for: tuple[str, ...]


class ClaimDef(_Frozen):
    id: str
    claim: str
    claimed: tuple[float, float] | None = None
    metric: str | None
    # The verdict of a claim that is not a figure (or whose figure is right for the wrong reason); a priced
    # figure's verdict is worked out (holds, too high, too low).
    verdict: str | None = None
    reason: str

    @model_validator(mode="after")
    def _verdict_without_figure(self) -> ClaimDef:
        if self.metric is None and self.verdict is None:
            raise ValueError(f"claim {self.id}: a claim without a metric needs a verdict")
        if self.metric is not None and self.claimed is None:
            raise ValueError(f"claim {self.id}: a priced claim needs its claimed range")
        return self


class BeforeArchitecture(_Frozen):
    """What the reference's "before" architecture needs beyond the plan's own lines (rules.yaml says why)."""

    web_tasks: int = Field(ge=1)
    alb_availability_zones: int = Field(ge=2)
    alb_gb_per_lcu_hour: float = Field(gt=0)


class Rules(_Frozen):
    tiers: tuple[Tier, ...]
    sizing: SizingSteps
    constants: Constants
    alarms: tuple[AlarmDef, ...]
    rules: tuple[Rule, ...]
    hosting_profiles: dict[str, HostingProfile]
    workers: dict[str, WorkerDef]
    model_uses: dict[str, ModelUse]
    claims: tuple[ClaimDef, ...]
    before_architecture: BeforeArchitecture
    qstash_regions: tuple[QStashRegion, ...]

    @model_validator(mode="after")
    def _ordered(self) -> Rules:
        bounds = [t.max_users for t in self.tiers]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("tiers must be ordered by max_users")
        for worker in self.workers.values():
            if (worker.trigger == "cron") != (worker.schedule_field is not None):
                raise ValueError(f"{worker.route}: a cron worker needs a schedule_field, an event one none")
        return self

    def qstash_region_for(self, aws_region: str) -> QStashRegion:
        """The QStash region a project in `aws_region` should open its QStash account in."""
        for region in self.qstash_regions:
            if aws_region in region.nearest_for:
                return region
        raise ValueError(f"no QStash region is listed as nearest for {aws_region} (rules.yaml qstash_regions)")

    def tier_for(self, users: int) -> Tier:
        for tier in self.tiers:
            if users <= tier.max_users:
                return tier
        return self.tiers[-1]

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def alarm(self, alarm_id: str) -> AlarmDef:
        return next(a for a in self.alarms if a.id == alarm_id)


@cache
def load_rules() -> Rules:
    return Rules.model_validate(load_yaml("rules.yaml"))
