"""Sizing: from answers to instance classes, counts and monthly volumes (no prices here).

Volumes come in pairs: `low` is the usage profile as given, `high` multiplies per-user usage by the
profile's `high_usage_factor` and bills QStash retries. Schedules fire the same number of times in both.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog
from generator.plan.rules import QStashRegion, Rules

HOURS_PER_MONTH = 730
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
DAYS_PER_MONTH = HOURS_PER_MONTH / 24

QStashPlanName = Literal["free", "pay-as-you-go", "fixed-1m", "fixed-10m"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(_Frozen):
    low: float
    high: float

    @classmethod
    def of(cls, low: float, high: float | None = None) -> Range:
        return cls(low=low, high=low if high is None else high)

    def scale(self, factor: float) -> Range:
        return Range(low=self.low * factor, high=self.high * factor)

    def __add__(self, other: Range) -> Range:
        return Range(low=self.low + other.low, high=self.high + other.high)

    def minus_allowance(self, allowance: float) -> Range:
        return Range(low=max(0.0, self.low - allowance), high=max(0.0, self.high - allowance))


class TierInfo(_Frozen):
    name: str
    min_users: int
    max_users: int
    why: str


class RdsSizing(_Frozen):
    engine: Literal["postgres"] = "postgres"
    # A major version only: RDS creates the default minor of it (see rules.yaml).
    engine_version: str
    instance_class: str
    memory_gib: float
    allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    data_gb: float


class CacheSizing(_Frozen):
    engine: Literal["valkey", "redis"]
    # major.minor, ElastiCache's smallest unit (it manages the patch level).
    engine_version: str
    node_type: str
    replicas: int
    nodes: int


class LambdaSizing(_Frozen):
    architecture: Literal["arm64"] = "arm64"
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int


class CronLambdaSizing(_Frozen):
    memory_mb: int
    timeout_seconds: int
    every_minutes: int
    schedule_expression: str


class NetworkSizing(_Frozen):
    workers_in_vpc: bool
    availability_zones: int
    nat_gateways: int
    s3_gateway_endpoint: bool


class S3Lifecycle(_Frozen):
    noncurrent_version_days: int
    abort_multipart_days: int
    export_expiration_days: int


class S3Sizing(_Frozen):
    storage_gb: Range
    put_requests: Range
    get_requests: Range
    egress_gb: Range
    lifecycle: S3Lifecycle


class Schedule(_Frozen):
    worker: str
    cron: str
    every_minutes: int
    runs_per_month: float


class QStashSizing(_Frozen):
    plan: QStashPlanName
    retries: int
    timeout_seconds: int
    schedules: tuple[Schedule, ...]
    scheduled_messages: float
    event_jobs: Range
    notifications: Range
    messages: Range
    messages_per_day_high: float
    # The QStash region to open the account in (nearest the AWS region), and every region, for the ops'
    # check that QSTASH_URL and the token belong together.
    region: str
    regions: tuple[QStashRegion, ...]


class AiUsage(_Frozen):
    use: str
    worker: str
    model: str
    requests: Range
    input_tokens: Range
    output_tokens: Range


class ComputeSizing(_Frozen):
    worker_invocations: Range
    worker_gb_seconds: Range
    cron_invocations: float
    cron_gb_seconds: float
    log_gb: Range
    nat_gb: Range


class Sizing(_Frozen):
    tier: TierInfo
    rds: RdsSizing
    cache: CacheSizing
    workers_lambda: LambdaSizing
    cron_lambda: CronLambdaSizing
    network: NetworkSizing
    s3: S3Sizing
    qstash: QStashSizing
    ai: tuple[AiUsage, ...]
    compute: ComputeSizing
    alarms: int
    secrets: int


def cron_expression(every_minutes: int) -> str:
    """A UTC cron line that fires every `every_minutes` (a divisor of an hour or of a day)."""
    if every_minutes < 60:
        return f"*/{every_minutes} * * * *"
    hours = every_minutes // 60
    if hours == 1:
        return "0 * * * *"
    if hours == 24:
        return "0 0 * * *"
    return f"0 */{hours} * * *"


def rate_expression(every_minutes: int) -> str:
    return "rate(1 minute)" if every_minutes == 1 else f"rate({every_minutes} minutes)"


def tier_info(rules: Rules, users: int) -> TierInfo:
    tier = rules.tier_for(users)
    index = rules.tiers.index(tier)
    floor = rules.tiers[index - 1].max_users + 1 if index else 1
    return TierInfo(name=tier.name, min_users=floor, max_users=tier.max_users, why=tier.why)


def size(answers: Answers, rules: Rules, catalog: Catalog) -> Sizing:
    usage, users, const = answers.usage, answers.users, rules.constants
    tier = rules.tier_for(users)
    per_user = Range.of(users, users * usage.high_usage_factor)

    raw_event_gb = usage.events_per_user_per_day * usage.event_retention_days * usage.event_bytes / 1e9
    data_gb = users * (raw_event_gb + usage.db_mb_per_user / 1000)
    storage_gb = max(tier.rds_min_storage_gb, math.ceil(data_gb * const.rds_storage_headroom))
    rds = RdsSizing(
        engine_version=const.rds_engine_major_version,
        instance_class=tier.rds_instance_class,
        memory_gib=tier.rds_memory_gib,
        allocated_storage_gb=storage_gb,
        multi_az=tier.rds_multi_az,
        backup_retention_days=const.rds_backup_retention_days,
        data_gb=round(data_gb, 3),
    )
    cache = CacheSizing(
        engine=answers.cache_engine,
        engine_version=const.cache_engine_versions[answers.cache_engine],
        node_type=tier.cache_node_type,
        replicas=tier.cache_replicas,
        nodes=1 + tier.cache_replicas,
    )

    schedules = tuple(
        Schedule(
            worker=name,
            cron=cron_expression(minutes),
            every_minutes=minutes,
            runs_per_month=MINUTES_PER_MONTH / minutes,
        )
        for name in answers.workers
        if (field := rules.workers[name].schedule_field)
        for minutes in [int(getattr(usage, field))]
    )
    scheduled = sum(s.runs_per_month for s in schedules)
    uploads = per_user.scale(usage.uploads_per_user_per_month)
    alerts = per_user.scale(usage.alerts_per_user_per_month)
    has = set(answers.workers)
    if "video_processing" not in has:
        uploads = Range.of(0)  # no video worker: no uploads to process, no video PUTs
    event_jobs = uploads
    notifications = alerts if "alert_checker" in has else Range.of(0)
    base_messages = Range.of(scheduled) + event_jobs + notifications
    retries = const.qstash_retries
    messages = Range.of(base_messages.low, base_messages.high * (1 + retries))
    per_day_high = messages.high / DAYS_PER_MONTH
    qstash_plan = _qstash_plan(catalog, per_day_high, messages.high, len(schedules), const.worker_timeout_seconds)

    ai_uses = []
    for use, spec in rules.model_uses.items():
        if spec.worker not in has:
            continue
        if use == "video":
            requests = uploads
        elif use == "alerts":
            requests = alerts
        else:
            requests = per_user.scale(usage.trends_requests_per_user_per_month)
        tokens_in = getattr(usage, f"{use}_input_tokens_per_request")
        tokens_out = getattr(usage, f"{use}_output_tokens_per_request")
        ai_uses.append(
            AiUsage(
                use=use,
                worker=spec.worker,
                model=answers.model_for(use),
                requests=requests,
                input_tokens=requests.scale(tokens_in),
                output_tokens=requests.scale(tokens_out),
            )
        )
    ai_requests = sum((u.requests for u in ai_uses), Range.of(0))

    # Our workers receive the scheduled and event messages (and their retries); notifications go to the
    # users' own webhooks.
    deliveries = Range.of(scheduled) + event_jobs
    worker_invocations = Range.of(deliveries.low, deliveries.high * (1 + retries))
    memory_gb = tier.lambda_memory_mb / 1024
    worker_seconds = worker_invocations.scale(usage.job_base_seconds) + ai_requests.scale(usage.ai_call_seconds)
    cron_invocations = MINUTES_PER_MONTH / usage.maintenance_every_minutes
    cron_gb_seconds = cron_invocations * usage.job_base_seconds * const.cron_lambda_memory_mb / 1024
    invocations = worker_invocations + Range.of(cron_invocations)

    egress = per_user.scale(usage.egress_gb_per_user_per_month)
    exports_per_month = DAYS_PER_MONTH if "data_processing" in has else 0.0
    s3 = S3Sizing(
        storage_gb=per_user.scale(usage.storage_gb_per_user),
        # A video and its thumbnail per upload, one export per day.
        put_requests=uploads.scale(2) + Range.of(exports_per_month),
        get_requests=per_user.scale(usage.s3_get_requests_per_user_per_month),
        egress_gb=egress,
        lifecycle=S3Lifecycle(
            noncurrent_version_days=const.s3_noncurrent_version_days,
            abort_multipart_days=const.s3_abort_multipart_days,
            export_expiration_days=const.s3_export_expiration_days,
        ),
    )

    return Sizing(
        tier=tier_info(rules, users),
        rds=rds,
        cache=cache,
        workers_lambda=LambdaSizing(
            memory_mb=tier.lambda_memory_mb,
            timeout_seconds=min(const.worker_timeout_seconds, const.lambda_max_timeout_seconds),
            reserved_concurrency=tier.lambda_reserved_concurrency,
        ),
        cron_lambda=CronLambdaSizing(
            memory_mb=const.cron_lambda_memory_mb,
            timeout_seconds=const.cron_lambda_timeout_seconds,
            every_minutes=usage.maintenance_every_minutes,
            schedule_expression=rate_expression(usage.maintenance_every_minutes),
        ),
        network=NetworkSizing(
            workers_in_vpc=True,
            availability_zones=2,
            nat_gateways=tier.nat_gateways,
            s3_gateway_endpoint=True,
        ),
        s3=s3,
        qstash=QStashSizing(
            plan=qstash_plan,
            retries=retries,
            timeout_seconds=const.worker_timeout_seconds,
            schedules=schedules,
            scheduled_messages=scheduled,
            event_jobs=event_jobs,
            notifications=notifications,
            messages=messages,
            messages_per_day_high=per_day_high,
            region=rules.qstash_region_for(answers.aws_region).id,
            regions=rules.qstash_regions,
        ),
        ai=tuple(ai_uses),
        compute=ComputeSizing(
            worker_invocations=worker_invocations,
            worker_gb_seconds=worker_seconds.scale(memory_gb),
            cron_invocations=cron_invocations,
            cron_gb_seconds=cron_gb_seconds,
            log_gb=invocations.scale(usage.log_kb_per_invocation / 1e6),
            nat_gb=per_user.scale(usage.nat_gb_per_user_per_month),
        ),
        alarms=sum(tier.nat_gateways if a.per_nat_gateway else 1 for a in rules.alarms),
        secrets=const.secrets,
    )


def _qstash_plan(
    catalog: Catalog, per_day: float, per_month: float, schedules: int, timeout_seconds: int
) -> QStashPlanName:
    """The cheapest QStash plan whose limits hold the high estimate."""
    free_fits = (
        per_day <= catalog.allowance("qstash_free_messages_per_day")
        and schedules <= catalog.allowance("qstash_free_schedules")
        and timeout_seconds <= catalog.allowance("qstash_free_max_timeout_seconds")
    )
    if free_fits:
        return "free"
    payg = per_month / 100_000 * catalog.global_price("qstash.payg_100k").usd
    options: list[tuple[float, QStashPlanName]] = [(payg, "pay-as-you-go")]
    if per_day <= catalog.allowance("qstash_fixed_1m_messages_per_day"):
        options.append((catalog.global_price("qstash.fixed_1m").usd, "fixed-1m"))
    if per_day <= catalog.allowance("qstash_fixed_10m_messages_per_day"):
        options.append((catalog.global_price("qstash.fixed_10m").usd, "fixed-10m"))
    return min(options)[1]
