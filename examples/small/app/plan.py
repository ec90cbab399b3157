"""The plan file rendered by the template: which workers exist and the limits they obey."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ROUTE = re.compile(r"^/[a-z0-9/_-]+$")


class _Model(BaseModel):
    # Later plan versions may add keys; this service reads only what it knows.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Project(_Model):
    name: str
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")


class WorkerPlan(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    route: str = Field(pattern=_ROUTE.pattern)
    trigger: Literal["event", "cron"]
    cron: str | None = None
    model: str | None = None
    model_use: str | None = None

    @model_validator(mode="after")
    def _cron_matches_trigger(self) -> WorkerPlan:
        if self.trigger == "cron" and not self.cron:
            raise ValueError(f"worker {self.name}: cron trigger needs a cron expression")
        return self


class FlowControlPlan(_Model):
    """QStash flow control every message to the workers carries: at most `parallelism` deliveries in flight
    under `key` (the workers' reserved concurrency, which also bounds the database connections)."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    parallelism: int = Field(ge=1)


class QStashPlan(_Model):
    retries: int = Field(ge=0, le=5)
    timeout_seconds: int = Field(gt=0)
    dedupe_ttl_seconds: int = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    failure_callback_route: str = Field(pattern=_ROUTE.pattern)
    signature_clock_tolerance_seconds: int = Field(ge=0, le=60)
    flow_control: FlowControlPlan


S = TypeVar("S", bound=BaseModel)


class Plan(_Model):
    # Besides these, the plan holds one section per worker that has settings of its own (its limits,
    # windows, TTLs); only chosen workers have one. The worker module owns the section's model and reads
    # it with `section()`, so this file knows no worker and a plan without a worker's section is valid.
    model_config = ConfigDict(extra="allow", frozen=True)

    project: Project
    workers: tuple[WorkerPlan, ...]
    qstash: QStashPlan

    @model_validator(mode="after")
    def _unique_workers(self) -> Plan:
        names = [w.name for w in self.workers]
        routes = [w.route for w in self.workers] + [self.qstash.failure_callback_route]
        if len(set(names)) != len(names) or len(set(routes)) != len(routes):
            raise ValueError("worker names and routes must be unique")
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
