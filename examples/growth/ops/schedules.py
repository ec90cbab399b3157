"""QStash schedules from the plan, through app.schedules (the same diff and apply as scripts/sync_schedules.py).

Each published version's plan is kept in the artifacts bucket, so a rollback restores the schedules that
version was deployed with.
"""

from __future__ import annotations

from typing import Any

from qstash import QStash

from app.plan import Plan, load_plan
from app.schedules import Change, apply_changes, format_changes, plan_changes
from ops.config import APP_PLAN_PATH
from ops.console import Console


def current_plan() -> Plan:
    return load_plan(APP_PLAN_PATH)


def plan_key(function: str, version: str) -> str:
    return f"releases/{function}/{version}/plan.json"


def record_plan(s3: Any, bucket: str, function: str, version: str, plan: Plan) -> None:
    s3.put_object(Bucket=bucket, Key=plan_key(function, version), Body=plan.model_dump_json(indent=2).encode())


def recorded_plan(s3: Any, bucket: str, function: str, version: str) -> Plan | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=plan_key(function, version))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return Plan.model_validate_json(body)


def without_schedules(plan: Plan) -> Plan:
    """The plan with no cron worker: syncing it removes our schedules (undo of a first deploy)."""
    return plan.model_copy(update={"workers": tuple(w for w in plan.workers if w.trigger != "cron")})


class Schedules:
    def __init__(self, client: QStash, public_base_url: str, console: Console) -> None:
        self.client = client
        self.public_base_url = public_base_url
        self.console = console

    def diff(self, plan: Plan) -> list[Change]:
        return plan_changes(plan, self.public_base_url, self.client.schedule.list())

    def sync(self, plan: Plan, *, dry_run: bool) -> list[Change]:
        changes = self.diff(plan)
        for line in (format_changes(changes) or "no cron workers in the plan").splitlines():
            self.console.detail(line)
        pending = [c for c in changes if c.action != "keep"]
        if not dry_run and pending:
            apply_changes(self.client, plan, self.public_base_url, pending)
        return pending


def qstash_client(token: str, base_url: str) -> QStash:
    # No SDK retry: a failed sync fails the step, and the step's undo puts the old schedules back.
    return QStash(token, retry=False, base_url=base_url)
