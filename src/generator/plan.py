"""The plan: everything the template renders and `betagen estimate` shows, computed from the answers.

Pure: answers in, plan out. The JSON form of a plan (`Plan.model_dump(mode="json")`) is what
`betagen estimate --format json` prints and what the rendered docs are written from.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from generator import __version__
from generator.advice import Advice, advise
from generator.answers import Answers
from generator.budget import Line, Totals
from generator.catalog import Catalog, load_catalog
from generator.claims import Correction, corrections
from generator.comparison import HostingOption, hosting_comparison
from generator.core import price_plan
from generator.guard_rails import GuardRails, guard_rails
from generator.rules import Rule, Rules, load_rules
from generator.scaling import ScalingRow, scaling_table
from generator.sizing import Sizing

SCHEMA_VERSION = 1


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


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int
    generator_version: str
    catalog_as_of: str
    project: Project
    answers: dict[str, Any]
    hosting_profile: str
    sizing: Sizing
    workers: tuple[WorkerPlan, ...]
    rules_applied: tuple[Rule, ...]
    lines: tuple[Line, ...]
    totals: Totals
    guard_rails: GuardRails
    hosting_comparison: tuple[HostingOption, ...]
    scaling: tuple[ScalingRow, ...]
    corrections: tuple[Correction, ...]
    advice: Advice | None

    def worker_manifest(self) -> dict[str, Any]:
        """What the rendered workers read at run time (`app/plan.json`)."""
        const = load_rules().constants
        return {
            "project": self.project.model_dump(),
            "workers": [
                {
                    "name": w.name,
                    "route": w.route,
                    "trigger": w.trigger,
                    "cron": w.cron,
                    "model": w.model,
                    "model_use": w.model_use,
                }
                for w in self.workers
            ],
            "qstash": {
                "retries": self.sizing.qstash.retries,
                "timeout_seconds": self.sizing.qstash.timeout_seconds,
                "dedupe_ttl_seconds": const.dedupe_ttl_seconds,
                "max_body_bytes": const.max_body_bytes,
                "failure_callback_route": "/workers/failed",
            },
            "video": {
                "max_bytes": const.video_max_bytes,
                "allowed_content_types": ["video/mp4", "video/quicktime", "video/webm"],
            },
            "trends": {
                "cache_ttl_seconds": const.trends_cache_ttl_seconds,
                "window_days": const.trends_window_days,
            },
            "alerts": {"window_minutes": const.alerts_window_minutes},
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
        )
        for name in answers.workers
        for spec in [rules.workers[name]]
    )
    return Plan(
        schema_version=SCHEMA_VERSION,
        generator_version=__version__,
        catalog_as_of=catalog.catalog_as_of,
        project=Project(name=answers.project_name, slug=answers.project_slug),
        answers=answers.model_dump(mode="json"),
        hosting_profile=answers.hosting_profile,
        sizing=priced.sizing,
        workers=workers,
        rules_applied=rules.rules,
        lines=priced.lines,
        totals=priced.totals,
        guard_rails=guard_rails(answers, priced, rules),
        hosting_comparison=tuple(hosting_comparison(answers, priced, catalog)),
        scaling=tuple(scaling_table(answers, rules)),
        corrections=tuple(corrections(answers, rules, catalog)),
        advice=advise(answers, priced, rules, catalog),
    )
