"""Sizing: from answers to instance classes, counts and monthly volumes (no prices here).

Volumes come in pairs: `low` is the usage profile as given, `high` multiplies per-user usage by the
profile's `high_usage_factor` and bills QStash retries. Schedules fire the same number of times in both.
Model calls and tokens are the exception: their high is what the workers' limits (app/plan.json) allow.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import MAX_USERS, Answers
from generator.plan.catalog import Catalog
from generator.plan.cron import HOURS_PER_MONTH as HOURS_PER_MONTH
from generator.plan.cron import runs_per_month
from generator.plan.custom_workers import CustomWorker
from generator.plan.limits import WorkerLimits, custom_worker_limits, publish_batch_size, worker_limits
from generator.plan.rules import COMPONENTS, AvailabilityStep, QStashRegion, Rules, Step, step_at

MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GIB = 1024**3
# RDS for PostgreSQL's default max_connections is LEAST(DBInstanceClassMemory / 9531392, 5000): "Quotas and
# constraints for Amazon RDS", maximum number of database connections
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html, read 2026-11-25).
RDS_BYTES_PER_CONNECTION = 9_531_392
RDS_MAX_CONNECTIONS_CAP = 5000
# Burstable RDS classes (CPU credits): db.t3, db.t4g.
BURSTABLE_PREFIX = "db.t"

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


class SizingChange(_Frozen):
    """One component stepping up at a user count (rules.yaml `sizing`)."""

    component: str
    from_users: int
    before: str
    after: str
    why: str

    def describe(self) -> str:
        return f"{COMPONENTS[self.component]} {self.before} -> {self.after} from {self.from_users:,} users"


class SizingMilestones(_Frozen):
    """The user counts from which the stack gains each kind of resilience or class (rules.yaml `sizing`),
    whatever the plan's own count: the docs say when each arrives."""

    multi_az_from_users: int
    nat_per_az_from_users: int
    cache_replica_from_users: int
    non_burstable_database_from_users: int


class RdsSizing(_Frozen):
    engine: Literal["postgres"] = "postgres"
    # A major version only: RDS creates the default minor of it (see rules.yaml).
    engine_version: str
    instance_class: str
    memory_gib: float
    # The class's default max_connections; every concurrent worker holds one.
    max_connections: int
    # A burstable class (CPU credits) or not.
    burstable: bool
    allocated_storage_gb: int
    multi_az: bool
    # The availability target Multi-AZ follows (above the Single-AZ SLA's figure: Multi-AZ).
    availability_target_pct: float
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
    # Database connections per instance (its pool); a model-calling worker's spend ledger opens as many again.
    db_pool_size: int


class CronLambdaSizing(_Frozen):
    memory_mb: int
    timeout_seconds: int
    db_pool_size: int
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
    # PUTs: the front-end's uploads (a video and its thumbnail each) and the roll-up's exports.
    upload_puts: Range
    export_puts: Range
    put_requests: Range
    get_requests: Range
    egress_gb: Range
    lifecycle: S3Lifecycle


class Schedule(_Frozen):
    worker: str
    cron: str
    # None for a custom worker's cron line, which need not fire at a fixed interval.
    every_minutes: int | None
    runs_per_month: float


class CustomWorkerSizing(_Frozen):
    """A custom worker's monthly volumes (answer `custom_workers`), as the plan prices them."""

    name: str
    trigger: Literal["cron", "event"]
    calls_per_user_per_month: float
    # cron: a tick a run (and with a model, a chunk message per chunk of users a run); event:
    # calls_per_user_per_month x users (x high_usage_factor at the high).
    messages: Range
    # Its model calls (0 without a model): one a message (event), at most one per user a run (cron).
    model_calls: Range
    # cron only: runs a month (exact average over the Gregorian cycle) and the shortest gap between two runs.
    runs_per_month: float | None
    shortest_gap_minutes: int | None


class QStashSizing(_Frozen):
    # The cheapest plan that holds the high estimate (the one to subscribe to), and the cheapest that holds the
    # low one: each estimate is billed on its own plan.
    plan: QStashPlanName
    plan_low: QStashPlanName
    retries: int
    timeout_seconds: int
    schedules: tuple[Schedule, ...]
    scheduled_messages: float
    # One message per chunk of users per run of each fanned-out worker.
    fanout_messages: float
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
    # Model calls a month: low as the usage profile expects, high as the worker's limits allow.
    requests: Range
    input_tokens: Range
    output_tokens: Range
    # How the calls and tokens were derived, in words.
    basis: str
    # A custom worker's (answer `custom_workers`): `use` is then the worker's name.
    custom: bool = False


class NatTraffic(_Frozen):
    """What the workers move through the NAT gateway a month (GB)."""

    ai_gb: Range
    qstash_gb: Range
    # Sent to the internet (billed as egress too); the rest is received.
    out_gb: Range
    total_gb: Range
    bytes_per_token: float
    request_overhead_bytes: int
    published_messages: Range


class ComputeSizing(_Frozen):
    worker_invocations: Range
    worker_gb_seconds: Range
    cron_invocations: float
    cron_gb_seconds: float
    log_gb: Range
    nat_gb: Range
    nat: NatTraffic


class Sizing(_Frozen):
    tier: TierInfo
    rds: RdsSizing
    cache: CacheSizing
    workers_lambda: LambdaSizing
    cron_lambda: CronLambdaSizing
    network: NetworkSizing
    s3: S3Sizing
    qstash: QStashSizing
    # The component steps still ahead, up to the largest user count (the thresholds rules.yaml sets).
    next_changes: tuple[SizingChange, ...]
    milestones: SizingMilestones
    # What each chosen worker's code obeys (app/plan.json), by worker name.
    worker_limits: dict[str, WorkerLimits]
    # Chunk messages per QStash batch publish.
    fanout_publish_batch_size: int
    # The custom workers' volumes, by name, in the answer's order.
    custom_workers: dict[str, CustomWorkerSizing]
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
    usage, users, const, steps = answers.usage, answers.users, rules.constants, rules.sizing
    database = step_at(steps.database, users)
    availability = step_at(steps.availability, users)
    lambda_memory_mb = step_at(steps.lambda_memory, users).memory_mb
    nat_gateways = step_at(steps.nat_gateways, users).count
    cache_replicas = step_at(steps.cache_replicas, users).count
    per_user = Range.of(users, users * usage.high_usage_factor)
    retries = const.qstash_retries
    has = set(answers.workers)

    raw_event_gb = usage.events_per_user_per_day * usage.event_retention_days * usage.event_bytes / 1e9
    data_gb = users * (raw_event_gb + usage.db_mb_per_user / 1000)
    storage_gb = max(steps.rds_min_storage_gb, math.ceil(data_gb * const.rds_storage_headroom))
    rds = RdsSizing(
        engine_version=const.rds_engine_major_version,
        instance_class=database.instance_class,
        memory_gib=database.memory_gib,
        max_connections=rds_max_connections(database.memory_gib),
        burstable=database.instance_class.startswith(BURSTABLE_PREFIX),
        allocated_storage_gb=storage_gb,
        multi_az=availability.target_pct > steps.single_az_uptime_pct,
        availability_target_pct=availability.target_pct,
        backup_retention_days=const.rds_backup_retention_days,
        data_gb=round(data_gb, 3),
    )
    cache = CacheSizing(
        engine=answers.cache_engine,
        engine_version=const.cache_engine_versions[answers.cache_engine],
        node_type=step_at(steps.cache_node, users).node_type,
        replicas=cache_replicas,
        nodes=1 + cache_replicas,
    )
    timeout = min(const.worker_timeout_seconds, const.lambda_max_timeout_seconds)
    limits = {name: worker_limits(name, usage, timeout, rules) for name in answers.workers}
    limits |= {w.name: custom_worker_limits(w, usage, timeout, rules) for w in answers.custom_workers}

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
    ) + tuple(
        Schedule(worker=w.name, cron=w.schedule, every_minutes=None, runs_per_month=float(runs_per_month(cron)))
        for w in answers.custom_workers
        if w.schedule and (cron := w.cron())
    )
    runs = {s.worker: s.runs_per_month for s in schedules}
    scheduled = sum(runs.values())
    # Each run of a fanned-out worker publishes one message per chunk of users.
    fanout = sum(
        runs[name] * math.ceil(users / chunk) for name, lim in limits.items() if (chunk := lim.chunk_size) is not None
    )
    uploads = per_user.scale(usage.uploads_per_user_per_month)
    alerts = per_user.scale(usage.alerts_per_user_per_month)
    if "video_processing" not in has:
        uploads = Range.of(0)  # no video worker: no uploads to process, no video PUTs
    custom = {
        w.name: _custom_sizing(w, per_user, runs, users, usage.high_usage_factor, limits[w.name].chunk_size)
        for w in answers.custom_workers
    }
    event_jobs = sum((c.messages for c in custom.values() if c.trigger == "event"), uploads)
    notifications = alerts if "alert_checker" in has else Range.of(0)
    base_messages = Range.of(scheduled + fanout) + event_jobs + notifications
    messages = Range.of(base_messages.low, base_messages.high * (1 + retries))
    per_day_high = messages.high / DAYS_PER_MONTH
    qstash_plan, qstash_plan_low = (
        _qstash_plan(catalog, count / DAYS_PER_MONTH, count, len(schedules), const.worker_timeout_seconds)
        for count in (messages.high, messages.low)
    )

    ai_uses = [
        _ai_usage(use, answers, limits[spec.worker], runs, uploads, rules)
        for use, spec in rules.model_uses.items()
        if spec.worker in has
    ] + [_custom_ai_usage(w, custom[w.name], limits[w.name]) for w in answers.custom_workers if w.model]
    ai_calls = sum((u.requests for u in ai_uses), Range.of(0))

    # Our workers receive the scheduled, fan-out and event messages (and their retries); notifications go to
    # the users' own webhooks.
    deliveries = Range.of(scheduled + fanout) + event_jobs
    worker_invocations = Range.of(deliveries.low, deliveries.high * (1 + retries))
    memory_gb = lambda_memory_mb / 1024
    worker_seconds = worker_invocations.scale(usage.job_base_seconds) + ai_calls.scale(usage.model_latency_p50_seconds)
    cron_invocations = MINUTES_PER_MONTH / usage.maintenance_every_minutes
    cron_gb_seconds = cron_invocations * usage.job_base_seconds * const.cron_lambda_memory_mb / 1024
    invocations = worker_invocations + Range.of(cron_invocations)

    # The roll-up exports each day it refreshes, every run; a retried run writes its exports again.
    exports = sum(runs[name] * (lim.days_per_run or 0) for name, lim in limits.items() if name in runs)
    export_puts = Range.of(exports, exports * (1 + retries))
    s3 = S3Sizing(
        storage_gb=per_user.scale(usage.storage_gb_per_user),
        # A video and its thumbnail per upload (the front-end's presigned PUTs).
        upload_puts=uploads.scale(2),
        export_puts=export_puts,
        put_requests=uploads.scale(2) + export_puts,
        get_requests=per_user.scale(usage.s3_get_requests_per_user_per_month),
        egress_gb=per_user.scale(usage.egress_gb_per_user_per_month),
        lifecycle=S3Lifecycle(
            noncurrent_version_days=const.s3_noncurrent_version_days,
            abort_multipart_days=const.s3_abort_multipart_days,
            export_expiration_days=const.s3_export_expiration_days,
        ),
    )
    nat = _nat_traffic(ai_uses, answers, limits, fanout, notifications, rules)

    return Sizing(
        tier=tier_info(rules, users),
        rds=rds,
        cache=cache,
        workers_lambda=LambdaSizing(
            memory_mb=lambda_memory_mb,
            timeout_seconds=timeout,
            reserved_concurrency=step_at(steps.reserved_concurrency, users).count,
            db_pool_size=const.db_pool_per_lambda,
        ),
        cron_lambda=CronLambdaSizing(
            memory_mb=const.cron_lambda_memory_mb,
            timeout_seconds=const.cron_lambda_timeout_seconds,
            db_pool_size=const.db_pool_per_lambda,
            every_minutes=usage.maintenance_every_minutes,
            schedule_expression=rate_expression(usage.maintenance_every_minutes),
        ),
        network=NetworkSizing(
            workers_in_vpc=True,
            availability_zones=2,
            nat_gateways=nat_gateways,
            s3_gateway_endpoint=True,
        ),
        s3=s3,
        qstash=QStashSizing(
            plan=qstash_plan,
            plan_low=qstash_plan_low,
            retries=retries,
            timeout_seconds=const.worker_timeout_seconds,
            schedules=schedules,
            scheduled_messages=scheduled,
            fanout_messages=fanout,
            event_jobs=event_jobs,
            notifications=notifications,
            messages=messages,
            messages_per_day_high=per_day_high,
            region=rules.qstash_region_for(answers.aws_region).id,
            regions=rules.qstash_regions,
        ),
        next_changes=tuple(sizing_changes(rules, users, MAX_USERS)),
        milestones=milestones(rules),
        worker_limits=limits,
        fanout_publish_batch_size=publish_batch_size(limits, rules),
        custom_workers=custom,
        ai=tuple(ai_uses),
        compute=ComputeSizing(
            worker_invocations=worker_invocations,
            worker_gb_seconds=worker_seconds.scale(memory_gb),
            cron_invocations=cron_invocations,
            cron_gb_seconds=cron_gb_seconds,
            log_gb=invocations.scale(usage.log_kb_per_invocation / 1e6),
            nat_gb=nat.total_gb,
            nat=nat,
        ),
        alarms=sum(nat_gateways if a.per_nat_gateway else 1 for a in rules.alarms),
        secrets=const.secrets,
    )


def milestones(rules: Rules) -> SizingMilestones:
    steps = rules.sizing
    return SizingMilestones(
        multi_az_from_users=next(s.from_users for s in steps.availability if s.target_pct > steps.single_az_uptime_pct),
        nat_per_az_from_users=next(s.from_users for s in steps.nat_gateways if s.count > 1),
        cache_replica_from_users=next(s.from_users for s in steps.cache_replicas if s.count > 0),
        non_burstable_database_from_users=next(
            s.from_users for s in steps.database if not s.instance_class.startswith(BURSTABLE_PREFIX)
        ),
    )


def sizing_changes(rules: Rules, above: int, up_to: int) -> list[SizingChange]:
    """The component steps that apply to a count in (above, up_to], by user count then component order."""
    found = []
    for component, steps in rules.sizing.components().items():
        for before, after in itertools.pairwise(steps):
            if above < after.from_users <= up_to:
                found.append(
                    SizingChange(
                        component=component,
                        from_users=after.from_users,
                        before=_step_label(component, before, rules),
                        after=_step_label(component, after, rules),
                        why=after.why,
                    )
                )
    return sorted(found, key=lambda c: (c.from_users, list(COMPONENTS).index(c.component)))


def _step_label(component: str, step: Step, rules: Rules) -> str:
    if isinstance(step, AvailabilityStep):
        az = "Multi-AZ" if step.target_pct > rules.sizing.single_az_uptime_pct else "Single-AZ"
        return f"{step.label()} ({az} database)"
    return step.label()


def rds_max_connections(memory_gib: float) -> int:
    """RDS for PostgreSQL's default max_connections: LEAST(DBInstanceClassMemory / 9,531,392, 5000)."""
    return min(RDS_MAX_CONNECTIONS_CAP, int(memory_gib * GIB // RDS_BYTES_PER_CONNECTION))


def _ai_usage(
    use: str, answers: Answers, limits: WorkerLimits, runs: dict[str, float], uploads: Range, rules: Rules
) -> AiUsage:
    """One AI use's calls and tokens: low is the usage profile, high what the worker's limits allow."""
    usage, users = answers.usage, answers.users
    spec = rules.model_uses[use]
    per_unit = limits.model_calls_per_unit
    if use == "video":
        calls = uploads.scale(per_unit)
        basis = (
            f"{per_unit} call per video: {uploads.low:,.0f} uploads a month expected, {uploads.high:,.0f} high "
            f"({usage.high_usage_factor:g}x)"
        )
    else:
        every = MINUTES_PER_MONTH / runs[spec.worker]
        per_user_ceiling = runs[spec.worker] * per_unit
        basis = (
            f"at most {per_unit} call per user per run ({_figure(runs[spec.worker])} runs a month, every {every:g} min)"
        )
        if limits.max_model_calls_per_user_per_day is not None:
            per_user_ceiling = min(per_user_ceiling, limits.max_model_calls_per_user_per_day * DAYS_PER_MONTH)
            basis += f" and {limits.max_model_calls_per_user_per_day} per user per day"
        if use == "alerts":
            expected = min(usage.alerts_per_user_per_month, per_user_ceiling)
            basis = f"one call per alert ({expected:g} per user a month expected); high: {basis}"
        else:
            expected = per_user_ceiling
        calls = Range(low=users * expected, high=users * per_user_ceiling)
        basis += f", {users:,} users"
    tokens_in = getattr(usage, f"{use}_input_tokens_per_request")
    tokens_out = getattr(usage, f"{use}_output_tokens_per_request")
    assert limits.max_input_tokens is not None and limits.max_output_tokens is not None  # a model's worker
    return AiUsage(
        use=use,
        worker=spec.worker,
        model=answers.model_for(use),
        requests=calls,
        input_tokens=Range(low=calls.low * tokens_in, high=calls.high * limits.max_input_tokens),
        output_tokens=Range(low=calls.low * tokens_out, high=calls.high * limits.max_output_tokens),
        basis=(
            f"{_span(calls)} calls/month ({basis}); per call {tokens_in:,.0f} in and "
            f"{tokens_out:,.0f} out expected, at most {limits.max_input_tokens:,} in and "
            f"{limits.max_output_tokens:,} out (app/plan.json)"
        ),
    )


def _custom_sizing(
    worker: CustomWorker,
    per_user: Range,
    runs: dict[str, float],
    users: int,
    high_factor: float,
    chunk_size: int | None,
) -> CustomWorkerSizing:
    """A custom worker's messages and model calls a month. Event: one message (and, with a model, one call) per
    job, calls_per_user_per_month x users, times high_usage_factor at the high estimate like every per-user
    volume. Cron: a tick a run, and with a model one chunk message per `chunk_size` users a run (fanned out as
    the reference cron workers: priced with them in QStash's fan-out messages); its calls are
    calls_per_user_per_month x users, at the high estimate times high_usage_factor but at most one call per
    user a run (the code's limit)."""
    cpupm = worker.calls_per_user_per_month
    calls_made = 1 if worker.model else 0
    if worker.trigger == "event":
        messages = per_user.scale(cpupm)
        return CustomWorkerSizing(
            name=worker.name,
            trigger="event",
            calls_per_user_per_month=cpupm,
            messages=messages,
            model_calls=messages.scale(calls_made),
            runs_per_month=None,
            shortest_gap_minutes=None,
        )
    cron = worker.cron()
    assert cron is not None  # a cron worker's schedule is checked by its answer
    month = runs[worker.name]
    calls = Range(low=users * cpupm, high=users * min(cpupm * high_factor, month)).scale(calls_made)
    return CustomWorkerSizing(
        name=worker.name,
        trigger="cron",
        calls_per_user_per_month=cpupm,
        messages=Range.of(month * (1 + (math.ceil(users / chunk_size) if chunk_size else 0))),
        model_calls=calls,
        runs_per_month=month,
        shortest_gap_minutes=cron.shortest_gap_minutes(),
    )


def _custom_ai_usage(worker: CustomWorker, sizing: CustomWorkerSizing, limits: WorkerLimits) -> AiUsage:
    """A custom worker's tokens: its answer's figures per call, which are also its caps (low = high per call)."""
    assert worker.model is not None and limits.max_input_tokens is not None and limits.max_output_tokens is not None
    calls = sizing.model_calls
    if worker.trigger == "event":
        how = f"one call per message, {worker.calls_per_user_per_month:g} messages per user a month"
    else:
        how = (
            f"{worker.calls_per_user_per_month:g} calls per user a month, at most one per user a run "
            f"({_figure(sizing.runs_per_month or 0)} runs a month of {worker.schedule!r})"
        )
    return AiUsage(
        use=worker.name,
        worker=worker.name,
        model=worker.model,
        custom=True,
        requests=calls,
        input_tokens=calls.scale(limits.max_input_tokens),
        output_tokens=calls.scale(limits.max_output_tokens),
        basis=(
            f"{_span(calls)} calls/month (custom worker: {how}; the high estimate takes the usage's "
            f"high_usage_factor); per call {limits.max_input_tokens:,} in and {limits.max_output_tokens:,} out, "
            "the answer's figures and the caps the code obeys (app/plan.json)"
        ),
    )


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _span(values: Range) -> str:
    low, high = f"{values.low:,.0f}", f"{values.high:,.0f}"
    return low if low == high else f"{low}-{high}"


def _nat_traffic(
    ai_uses: list[AiUsage],
    answers: Answers,
    limits: dict[str, WorkerLimits],
    fanout: float,
    notifications: Range,
    rules: Rules,
) -> NatTraffic:
    """The bytes the workers move through the NAT gateway: model requests and responses (tokens at a
    documented bytes-per-token, plus each request's headers) and the messages they publish to QStash (fan-out
    chunks and alert notifications: about 1 KiB expected, at most the fan-out payload limit, retries in the
    high estimate). Input tokens count as bytes even where they come from an image the model fetches by URL."""
    const = rules.constants
    per_token, half_overhead = const.nat_bytes_per_token, const.nat_request_overhead_bytes / 2
    calls = sum((u.requests for u in ai_uses), Range.of(0))
    ai_out = sum((u.input_tokens for u in ai_uses), Range.of(0)).scale(per_token) + calls.scale(half_overhead)
    ai_in = sum((u.output_tokens for u in ai_uses), Range.of(0)).scale(per_token) + calls.scale(half_overhead)
    published = Range.of(fanout) + notifications
    published = Range(low=published.low, high=published.high * (1 + const.qstash_retries))
    largest = max((lim.max_payload_bytes for lim in limits.values() if lim.chunk_size is not None), default=0)
    high_message = max(const.nat_message_bytes, largest)
    qstash_out = Range(low=published.low * const.nat_message_bytes, high=published.high * high_message)
    qstash_out = qstash_out + published.scale(half_overhead)
    qstash_in = published.scale(half_overhead)
    gb = 1e9
    return NatTraffic(
        ai_gb=(ai_out + ai_in).scale(1 / gb),
        qstash_gb=(qstash_out + qstash_in).scale(1 / gb),
        out_gb=(ai_out + qstash_out).scale(1 / gb),
        total_gb=(ai_out + ai_in + qstash_out + qstash_in).scale(1 / gb),
        bytes_per_token=per_token,
        request_overhead_bytes=const.nat_request_overhead_bytes,
        published_messages=published,
    )


def _qstash_plan(
    catalog: Catalog, per_day: float, per_month: float, schedules: int, timeout_seconds: int
) -> QStashPlanName:
    """The cheapest QStash plan whose limits hold one estimate's messages (`per_day` of `per_month`)."""
    free_fits = (
        per_day <= catalog.allowance("qstash_free_messages_per_day")
        and schedules <= catalog.allowance("qstash_free_schedules")
        and timeout_seconds <= catalog.allowance("qstash_free_max_timeout_seconds")
    )
    if free_fits:
        return "free"
    payg = per_month / 100_000 * float(catalog.global_price("qstash.payg_100k").usd)
    options: list[tuple[float, QStashPlanName]] = [(payg, "pay-as-you-go")]
    if per_day <= catalog.allowance("qstash_fixed_1m_messages_per_day"):
        options.append((float(catalog.global_price("qstash.fixed_1m").usd), "fixed-1m"))
    if per_day <= catalog.allowance("qstash_fixed_10m_messages_per_day"):
        options.append((float(catalog.global_price("qstash.fixed_10m").usd), "fixed-10m"))
    return min(options)[1]
