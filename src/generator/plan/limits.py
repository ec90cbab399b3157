"""Each worker's limits: what its code obeys (app/plan.json) and what the plan prices at its high estimate.

The caps come from rules.yaml (`workers.<name>.limits`); the chunk size and the message deadline are derived
here from the workers' timeout and the usage profile's model latency, so one formula sizes both the code's
chunks and the plan's message counts and capacity.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import UsageProfile
from generator.plan.custom_workers import CustomWorker
from generator.plan.rules import Rules


class WorkerLimits(BaseModel):
    """One worker's `limits` in app/plan.json (the contract between the plan and the rendered code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Per model call; None for a worker without a model.
    max_input_tokens: int | None
    max_output_tokens: int | None
    # Most model calls per unit of work (trends and alerts: a user in one run; video: a video); 0 without a model.
    model_calls_per_unit: int
    # Most model calls per user per day (alerts), None where only the per-unit cap applies.
    max_model_calls_per_user_per_day: int | None
    # Days each run refreshes (data processing: one S3 export each), None elsewhere.
    days_per_run: int | None
    # Users per fan-out message for cron work that grows with users; None: the worker does not fan out.
    chunk_size: int | None
    # The most one message's work may take: the worker stops and ends as a retry past it; < the Lambda timeout.
    message_deadline_seconds: int
    max_payload_bytes: int


def message_deadline_seconds(timeout_seconds: int, rules: Rules) -> int:
    return math.floor(timeout_seconds * rules.constants.message_deadline_ratio)


def units_within_deadline(calls_per_unit: int, deadline_seconds: int, usage: UsageProfile) -> float:
    """How many units one message can take on before its deadline with every call at the p95 latency
    (0: not even one; the plan refuses such a worker); unbounded (inf) for work without model calls."""
    budget = deadline_seconds - usage.job_base_seconds
    if budget <= 0:
        return 0
    if not calls_per_unit:
        return math.inf
    return math.floor(budget / (calls_per_unit * usage.model_latency_p95_seconds))


def fanout_chunk_size(calls_per_unit: int, deadline_seconds: int, usage: UsageProfile, rules: Rules) -> int:
    """Units per fan-out message: as many as end by the deadline with every call at the p95 latency, at most the
    fan-out cap (at least one: a worker that cannot fit one is refused by its capacity, not here)."""
    fits = units_within_deadline(calls_per_unit, deadline_seconds, usage)
    return max(1, int(min(fits, rules.constants.fanout_max_chunk_size)))


def worker_limits(worker: str, usage: UsageProfile, timeout_seconds: int, rules: Rules) -> WorkerLimits:
    spec = rules.workers[worker].limits
    deadline = message_deadline_seconds(timeout_seconds, rules)
    chunk = fanout_chunk_size(spec.model_calls_per_unit, deadline, usage, rules) if spec.fan_out else None
    return WorkerLimits(
        max_input_tokens=spec.max_input_tokens,
        max_output_tokens=spec.max_output_tokens,
        model_calls_per_unit=spec.model_calls_per_unit,
        max_model_calls_per_user_per_day=spec.max_model_calls_per_user_per_day,
        days_per_run=spec.days_per_run,
        chunk_size=chunk,
        message_deadline_seconds=deadline,
        max_payload_bytes=spec.max_payload_bytes,
    )


def custom_worker_limits(worker: CustomWorker, usage: UsageProfile, timeout_seconds: int, rules: Rules) -> WorkerLimits:
    """A custom worker's limits: its answer's tokens per call are the caps (the plan prices them at both
    estimates), one model call per unit (plan/custom_workers.py says what a unit is), the deadline every
    worker has, the custom workers' payload limit (rules.yaml). A cron worker with a model fans out as the
    reference cron workers do (its calls grow with users), its chunks sized by the same rule; an event worker
    (one message a job) and a cron worker without a model (one message a run) do not."""
    calls = worker.model is not None
    deadline = message_deadline_seconds(timeout_seconds, rules)
    fans_out = calls and worker.trigger == "cron"
    return WorkerLimits(
        max_input_tokens=worker.input_tokens if calls else None,
        max_output_tokens=worker.output_tokens if calls else None,
        model_calls_per_unit=1 if calls else 0,
        max_model_calls_per_user_per_day=None,
        days_per_run=None,
        chunk_size=fanout_chunk_size(1, deadline, usage, rules) if fans_out else None,
        message_deadline_seconds=deadline,
        max_payload_bytes=rules.constants.custom_worker_max_payload_bytes,
    )


def publish_batch_size(limits: dict[str, WorkerLimits], rules: Rules) -> int:
    """Chunk messages per QStash batch request: as many of the largest fan-out payload as fit one request."""
    payloads = [lim.max_payload_bytes for lim in limits.values() if lim.chunk_size is not None]
    largest = max(payloads, default=max(w.limits.max_payload_bytes for w in rules.workers.values()))
    return max(1, rules.constants.qstash_batch_max_bytes // largest)
