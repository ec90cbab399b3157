"""The plan file rendered by the template: which workers exist and the limits they obey."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ROUTE = re.compile(r"^/[a-z0-9/_-]+$")


class _Model(BaseModel):
    # Later plan versions may add keys; this service reads only what it knows.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Project(_Model):
    name: str
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")


class WorkerLimits(_Model):
    """What one worker's code obeys, and what the plan prices (its high estimate is these ceilings)."""

    # Per model call: the prompt is cut to fit `max_input_tokens` (app/prompt_budget.py) and the model is asked
    # for at most `max_output_tokens`. None for a worker without a model.
    max_input_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    # The most model calls one unit of work makes (a user per run, a video); 0 without a model.
    model_calls_per_unit: int = Field(ge=0)
    # And at most this many per user per day (alerts), None where the per-unit cap is the only one.
    max_model_calls_per_user_per_day: int | None = Field(default=None, ge=1)
    # Days one run refreshes (data processing), None elsewhere.
    days_per_run: int | None = Field(default=None, ge=1)
    # Users per fan-out message of a cron tick (app/fanout.py); None: the tick does the work itself.
    chunk_size: int | None = Field(default=None, ge=1)
    # The most one message's work may take: model calls are cut off at it and fail as retryable.
    message_deadline_seconds: int = Field(gt=0)
    # The largest request body the worker's route accepts.
    max_payload_bytes: int = Field(gt=0)


class WorkerPlan(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    route: str = Field(pattern=_ROUTE.pattern)
    trigger: Literal["event", "cron"]
    cron: str | None = None
    model: str | None = None
    model_use: str | None = None
    limits: WorkerLimits
    # The founder's own worker (answer `custom_workers`): its module is app/workers/custom/<name>.py.
    custom: bool = False
    # The payload its scaffold was written for (the answer's payload_example), None when none was given.
    payload_example: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _cron_matches_trigger(self) -> WorkerPlan:
        if self.trigger == "cron" and not self.cron:
            raise ValueError(f"worker {self.name}: cron trigger needs a cron expression")
        return self

    @model_validator(mode="after")
    def _token_caps_match_the_model(self) -> WorkerPlan:
        caps = (self.limits.max_input_tokens, self.limits.max_output_tokens)
        if self.model and None in caps:
            raise ValueError(f"worker {self.name}: a worker with a model needs max_input_tokens and max_output_tokens")
        if self.model and not self.limits.model_calls_per_unit:
            raise ValueError(f"worker {self.name}: a worker with a model needs model_calls_per_unit >= 1")
        return self


class FlowControlPlan(_Model):
    """QStash flow control every message to the workers carries: at most `parallelism` deliveries in flight
    under `key` (the workers' reserved concurrency, which also bounds the database connections)."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    parallelism: int = Field(ge=1)


class FanoutPlan(_Model):
    """How a cron tick hands its chunks to QStash: at most `publish_batch_size` messages per batch request."""

    publish_batch_size: int = Field(ge=1)


class QStashPlan(_Model):
    retries: int = Field(ge=0, le=5)
    timeout_seconds: int = Field(gt=0)
    dedupe_ttl_seconds: int = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    failure_callback_route: str = Field(pattern=_ROUTE.pattern)
    signature_clock_tolerance_seconds: int = Field(ge=0, le=60)
    flow_control: FlowControlPlan


class DatabasePlan(_Model):
    """Settings of every database session (app/db.py). No statement and no open transaction outlives the
    workers' Lambda; lock waits end sooner; keepalives, the TCP user timeout and the server's client check
    end the session of a client that went silent mid-job, which frees its job lock for QStash's retry."""

    statement_timeout_ms: int = Field(gt=0)
    idle_in_transaction_session_timeout_ms: int = Field(gt=0)
    lock_timeout_ms: int = Field(gt=0)
    keepalives_idle_seconds: int = Field(gt=0)
    keepalives_interval_seconds: int = Field(gt=0)
    keepalives_count: int = Field(gt=0)
    tcp_user_timeout_ms: int = Field(gt=0)
    client_connection_check_interval_ms: int = Field(gt=0)

    @model_validator(mode="after")
    def _bounded_by_the_statement_timeout(self) -> DatabasePlan:
        if self.lock_timeout_ms > self.statement_timeout_ms:
            raise ValueError("database.lock_timeout_ms must not exceed statement_timeout_ms")
        return self


class SecretsPlan(_Model):
    """How often a container may read its secrets again after a credential was refused (app/secrets.py)."""

    reread_min_interval_seconds: int = Field(gt=0)


class ModelPrices(_Model):
    """What one model's tokens cost, as the plan priced them (USD per million tokens)."""

    input_usd_per_1m: Decimal = Field(ge=0)
    output_usd_per_1m: Decimal = Field(ge=0)


class SpendGuardPlan(_Model):
    """The AI budget the spend guard (app/spend_guard.py) enforces: a monthly cap, the percentages of it that
    raise an alert, and the prices it reserves and settles each model call at."""

    monthly_cap_usd: Decimal = Field(ge=0)
    alert_thresholds_pct: tuple[int, ...]
    models: dict[str, ModelPrices]


S = TypeVar("S", bound=BaseModel)


class Plan(_Model):
    # Besides these, the plan holds one section per worker that has settings of its own (its limits,
    # windows, TTLs); only chosen workers have one. The worker module owns the section's model and reads
    # it with `section()`, so this file knows no worker and a plan without a worker's section is valid.
    model_config = ConfigDict(extra="allow", frozen=True)

    project: Project
    workers: tuple[WorkerPlan, ...]
    qstash: QStashPlan
    database: DatabasePlan
    secrets: SecretsPlan
    fanout: FanoutPlan
    spend_guard: SpendGuardPlan

    @model_validator(mode="after")
    def _unique_workers(self) -> Plan:
        names = [w.name for w in self.workers]
        routes = [w.route for w in self.workers] + [self.qstash.failure_callback_route]
        if len(set(names)) != len(names) or len(set(routes)) != len(routes):
            raise ValueError("worker names and routes must be unique")
        for worker in self.workers:
            if worker.model and worker.model not in self.spend_guard.models:
                raise ValueError(f"worker {worker.name}: spend_guard.models has no price for {worker.model}")
            # QStash cuts a delivery off at its timeout and retries it: the work must end before that.
            if worker.limits.message_deadline_seconds >= self.qstash.timeout_seconds:
                raise ValueError(f"worker {worker.name}: message_deadline_seconds must be below qstash.timeout_seconds")
        return self

    def worker(self, name: str) -> WorkerPlan:
        for worker in self.workers:
            if worker.name == name:
                return worker
        raise KeyError(name)

    def section(self, key: str, model: type[S]) -> S:
        """A worker's own section of the plan, validated by the worker's model (ValueError if absent)."""
        raw = (self.model_extra or {}).get(key)
        if raw is None:
            raise ValueError(f"the plan has no {key!r} section")
        return model.model_validate(raw)


def load_plan(path: Path) -> Plan:
    return Plan.model_validate(json.loads(path.read_text(encoding="utf-8")))
