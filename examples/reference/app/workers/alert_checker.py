"""alert_checker (cron): evaluate users' alert rules against today's daily aggregates; raise each alert
at most once per rule and window (`alerts` is unique on rule + window start), explain it with the
reasoning model and notify the rule's webhook through QStash.

The notification is published with a deduplication id derived from rule + window, so a job that
published and then failed before committing publishes the same id again and QStash drops the copy.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from qstash.errors import QStashError

from app.ai import text_prompt
from app.errors import RetryableJobError
from app.workers.base import Job, WorkerSpec

SYSTEM_PROMPT = "Explain in at most two sentences why this metric alert fired and what to check first."

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_RULES_SQL = """
SELECT r.id, r.user_id, r.metric, r.comparator, r.threshold, r.webhook_url, coalesce(a.value_sum, 0)
FROM alert_rules r
LEFT JOIN daily_aggregates a ON a.user_id = r.user_id AND a.metric = r.metric AND a.day = %s
WHERE r.enabled
ORDER BY r.id
"""


class AlertsSettings(BaseModel):
    """This worker's section of the plan (`alerts` in app/plan.json)."""

    window_minutes: int = Field(gt=0)


PLAN_SECTION = "alerts"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    now: datetime | None = None  # cron deliveries omit it: evaluated at delivery time


def window_start(now: datetime, window_minutes: int) -> datetime:
    seconds = window_minutes * 60
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)


def notification_dedupe_id(slug: str, rule_id: int, start: datetime) -> str:
    return f"{slug}-alert-{rule_id}-{int(start.timestamp())}"


def run(job: Job, payload: Payload) -> dict[str, Any]:
    plan = job.resources.plan
    alerts = plan.section(PLAN_SECTION, AlertsSettings)
    now = (payload.now or datetime.now(UTC)).astimezone(UTC)
    start = window_start(now, alerts.window_minutes)
    conn = job.conn
    # Two cron messages can overlap (a retry next to the next tick): evaluate one at a time.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('alert_checker'))")
    raised: list[int] = []
    rules = conn.execute(_RULES_SQL, (now.date(),)).fetchall()
    for rule_id, user_id, metric, comparator, threshold, webhook_url, value in rules:
        if not COMPARATORS[comparator](float(value), float(threshold)):
            continue
        exists = conn.execute(
            "SELECT 1 FROM alerts WHERE rule_id = %s AND window_start = %s",
            (rule_id, start),
        ).fetchone()
        if exists:
            continue
        facts = f"user {user_id}: {metric} is {value:g} today, rule is {comparator} {threshold:g}"
        explanation = job.complete(text_prompt(SYSTEM_PROMPT, facts), max_tokens=200).text
        try:
            published: Any = job.resources.qstash.message.publish_json(
                url=webhook_url,
                body={
                    "rule_id": rule_id,
                    "user_id": user_id,
                    "metric": metric,
                    "comparator": comparator,
                    "threshold": threshold,
                    "value": value,
                    "window_start": start.isoformat(),
                    "explanation": explanation,
                },
                retries=plan.qstash.retries,
                deduplication_id=notification_dedupe_id(plan.project.slug, rule_id, start),
            )
        except QStashError as exc:
            raise RetryableJobError(f"notification for rule {rule_id} not published: {exc}") from exc
        conn.execute(
            "INSERT INTO alerts (rule_id, window_start, observed_value, explanation, notify_message_id, message_id)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (rule_id, window_start) DO NOTHING",
            (rule_id, start, value, explanation, published.message_id, job.message_id),
        )
        raised.append(rule_id)
    return {"rules": len(rules), "raised": raised, "window_start": start.isoformat()}


WORKER = WorkerSpec(payload=Payload, run=run, plan_section=(PLAN_SECTION, AlertsSettings))
