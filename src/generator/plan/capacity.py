"""Capacity: the most users each fanned-out cron worker serves within its schedule's period.

A run of such a worker publishes one message per chunk of users; QStash delivers at most `parallelism` of
them at once (flow control, the workers' reserved concurrency), each holding one database connection. A
chunk is sized so that every call at the model's p95 latency still ends by the message deadline; a message
takes, typically, its fixed work plus every unit's calls at the p50 latency (every user of the chunk calling
the model: the most the worker's limits allow in one run). The run is done when its last wave of messages
is, and must be done before the next run starts:

    max_users = chunk_size x concurrent messages x floor(period / message seconds)

where concurrent messages = min(parallelism, the database connections left to the workers). The other
workers' runs that coincide with this one share the same parallelism; the plan does not subtract them.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import UsageProfile
from generator.plan.limits import units_within_deadline
from generator.plan.rules import Rules
from generator.plan.sizing import Schedule, Sizing

Limiting = Literal["parallelism", "database_connections", "message_deadline", "schedule_period"]


class WorkerCapacity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_users: int
    # What bounds max_users: raising it (or lengthening the schedule) lifts the limit.
    limiting: Limiting
    # The figures used, by name (seconds, counts).
    figures: dict[str, float]
    basis: str


def workers_db_connections(sizing: Sizing, rules: Rules) -> int:
    """The connections the workers may hold at once: under the db_connections alarm's threshold, less the
    ones kept for the cron function, migrations and operators."""
    alarm_share = rules.alarm("db_connections").threshold
    return max(0, math.floor(alarm_share * sizing.rds.max_connections) - rules.constants.db_connections_reserved)


def worker_capacity(
    worker: str, users: int, every_minutes: int, usage: UsageProfile, sizing: Sizing, rules: Rules
) -> WorkerCapacity:
    limits = sizing.worker_limits[worker]
    assert limits.chunk_size is not None  # fanned-out workers only
    chunk, calls = limits.chunk_size, limits.model_calls_per_unit
    deadline = limits.message_deadline_seconds
    period = every_minutes * 60
    parallelism = sizing.workers_lambda.reserved_concurrency
    connections = workers_db_connections(sizing, rules)
    concurrent = min(parallelism, connections)
    message_seconds = usage.job_base_seconds + chunk * calls * usage.model_latency_p50_seconds
    waves = math.floor(period / message_seconds)
    messages = math.ceil(users / chunk)
    figures: dict[str, float] = {
        "users": users,
        "chunk_size": chunk,
        "model_calls_per_unit": calls,
        "model_latency_p50_seconds": usage.model_latency_p50_seconds,
        "model_latency_p95_seconds": usage.model_latency_p95_seconds,
        "job_base_seconds": usage.job_base_seconds,
        "message_seconds_p50": round(message_seconds, 3),
        "message_seconds_p95": round(usage.job_base_seconds + chunk * calls * usage.model_latency_p95_seconds, 3),
        "message_deadline_seconds": deadline,
        "lambda_timeout_seconds": sizing.workers_lambda.timeout_seconds,
        "period_seconds": period,
        "parallelism": parallelism,
        "db_max_connections": sizing.rds.max_connections,
        "db_connections_for_workers": connections,
        "concurrent_messages": concurrent,
        "waves_per_period": waves,
        "messages_per_run": messages,
    }
    if concurrent:
        # How long a run takes at the plan's user count.
        figures["run_seconds"] = round(math.ceil(messages / concurrent) * message_seconds, 3)
    limiting: Limiting = "database_connections" if connections < parallelism else "parallelism"
    if units_within_deadline(calls, deadline, usage) < 1:
        max_users, limiting = 0, "message_deadline"
    elif waves < 1:
        max_users, limiting = 0, "schedule_period"
    else:
        max_users = chunk * concurrent * waves
    basis = (
        f"{chunk} user{'s' * (chunk != 1)} per message, sized for {calls} model call each at the p95 latency of "
        f"{usage.model_latency_p95_seconds:g} s within the {deadline} s deadline; {message_seconds:,.0f} s per "
        f"message at the p50 latency of {usage.model_latency_p50_seconds:g} s; {concurrent} messages at once "
        f"(parallelism {parallelism}, {connections} database connections for the workers); "
        f"{waves} wave{'s' * (waves != 1)} in each {every_minutes}-minute run"
    )
    return WorkerCapacity(max_users=max_users, limiting=limiting, figures=figures, basis=basis)


def capacity(users: int, usage: UsageProfile, sizing: Sizing, rules: Rules) -> dict[str, WorkerCapacity]:
    """Each fanned-out cron worker's capacity at the plan's sizing."""
    return {
        s.worker: worker_capacity(s.worker, users, s.every_minutes, usage, sizing, rules)
        for s in sizing.qstash.schedules
        if _fans_out(s, sizing)
    }


def _fans_out(schedule: Schedule, sizing: Sizing) -> bool:
    return sizing.worker_limits[schedule.worker].chunk_size is not None
