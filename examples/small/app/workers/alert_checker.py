"""alert_checker (cron): evaluate users' alert rules against today's daily aggregates; raise each alert
at most once per rule and window (`alerts` is unique on rule + window start), explain it with the
reasoning model and notify the rule's webhook through QStash.

Fanned out (app/fanout.py): the tick lists the users with enabled rules and publishes one message per chunk
of them; each chunk message evaluates its users' rules in one transaction. A user's alerts are explained by
at most `model_calls_per_unit` model calls in one run and `max_model_calls_per_user_per_day` in a UTC day;
any further alert is still raised and notified, with a plain explanation instead of the model's.

The notification is published with a deduplication id derived from rule + window, so a job that
published and then failed before committing publishes the same id again and QStash drops the copy.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from qstash.errors import QStashError

from app.errors import RetryableJobError
from app.fanout import Chunk, ChunkRef, fan_out, load_chunk, mark_done, nothing_to_do
from app.prompts import text_prompt
from app.workers.base import Job, WorkerSpec

SYSTEM_PROMPT = "Explain in at most two sentences why this metric alert fired and what to check first."

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_USERS_SQL = "SELECT DISTINCT user_id FROM alert_rules WHERE enabled ORDER BY user_id"

_RULES_SQL = """
SELECT r.id, r.user_id, r.metric, r.comparator, r.threshold, r.webhook_url, coalesce(a.value_sum, 0)
FROM alert_rules r
LEFT JOIN daily_aggregates a ON a.user_id = r.user_id AND a.metric = r.metric AND a.day = %s
WHERE r.enabled AND r.user_id = ANY(%s)
ORDER BY r.user_id, r.id
"""


_EXPLAINED_TODAY_SQL = """
SELECT r.user_id, count(*)
FROM alerts a
JOIN alert_rules r ON r.id = a.rule_id
WHERE a.explained AND r.user_id = ANY(%s) AND a.raised_at >= %s AND a.raised_at < %s
GROUP BY r.user_id
"""


class AlertsSettings(BaseModel):
    """This worker's section of the plan (`alerts` in app/plan.json)."""

    window_minutes: int = Field(gt=0)


PLAN_SECTION = "alerts"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    now: datetime | None = None  # cron deliveries omit it: evaluated at delivery time
    # Set on the messages the tick publishes: the chunk of users this message evaluates.
    chunk: ChunkRef | None = None


def window_start(now: datetime, window_minutes: int) -> datetime:
    seconds = window_minutes * 60
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)


def notification_dedupe_id(slug: str, rule_id: int, start: datetime) -> str:
    return f"{slug}-alert-{rule_id}-{int(start.timestamp())}"


def unexplained(metric: str, value: float, comparator: str, threshold: float) -> str:
    return (
        f"{metric} is {value:g}, rule is {comparator} {threshold:g}"
        " (not explained: the user's model calls for this run are used up)"
    )


def run(job: Job, payload: Payload) -> dict[str, Any]:
    if payload.chunk is not None:
        chunk = load_chunk(job, payload.chunk)
        if chunk is None or chunk.done:
            return nothing_to_do(payload.chunk, chunk)
        return _evaluate_chunk(job, chunk)
    now = (payload.now or datetime.now(UTC)).astimezone(UTC)

    def users() -> list[str]:
        return [row[0] for row in job.conn.execute(_USERS_SQL)]

    return fan_out(job, users, {"now": now.isoformat()})


def _explanations_left(job: Job, users: list[str], now: datetime) -> dict[str, int]:
    """Model calls each user may still have in this run: the per-run cap, less what today's cap has used."""
    limits = job.worker.limits
    per_run = limits.model_calls_per_unit
    if limits.max_model_calls_per_user_per_day is None:
        return dict.fromkeys(users, per_run)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    used: dict[str, int] = {
        str(user): int(count)
        for user, count in job.conn.execute(_EXPLAINED_TODAY_SQL, (users, day, day + timedelta(days=1)))
    }
    daily = limits.max_model_calls_per_user_per_day
    return {user: max(0, min(per_run, daily - used.get(user, 0))) for user in users}


def _evaluate_chunk(job: Job, chunk: Chunk) -> dict[str, Any]:
    plan = job.resources.plan
    alerts = plan.section(PLAN_SECTION, AlertsSettings)
    now = datetime.fromisoformat(chunk.params["now"])
    start = window_start(now, alerts.window_minutes)
    conn = job.conn
    # A chunk of another tick in the same window (a late retry next to the next tick) may evaluate the same
    # users: one at a time per user, keys taken in ascending order so two chunks cannot deadlock.
    conn.execute(
        "SELECT pg_advisory_xact_lock(key) FROM (SELECT DISTINCT hashtext('alert_checker:' || u) AS key"
        " FROM unnest(%s::text[]) AS u ORDER BY key) AS keys",
        (chunk.units,),
    )
    calls = _explanations_left(job, chunk.units, now)
    raised: list[int] = []
    rules = conn.execute(_RULES_SQL, (now.date(), chunk.units)).fetchall()
    for rule_id, user_id, metric, comparator, threshold, webhook_url, value in rules:
        if not COMPARATORS[comparator](float(value), float(threshold)):
            continue
        exists = conn.execute(
            "SELECT 1 FROM alerts WHERE rule_id = %s AND window_start = %s",
            (rule_id, start),
        ).fetchone()
        if exists:
            continue
        explained = calls.get(user_id, 0) > 0
        if explained:
            calls[user_id] -= 1
            facts = f"user {user_id}: {metric} is {value:g} today, rule is {comparator} {threshold:g}"
            explanation = job.complete(text_prompt(SYSTEM_PROMPT, facts)).text
        else:
            explanation = unexplained(metric, float(value), comparator, float(threshold))
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
        # `message_id` is the tick's: the cron run that raised it, whichever chunk message did the work.
        conn.execute(
            "INSERT INTO alerts (rule_id, window_start, observed_value, explanation, explained, notify_message_id,"
            " message_id, raised_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (rule_id, window_start) DO NOTHING",
            (rule_id, start, value, explanation, explained, published.message_id, chunk.tick, now),
        )
        raised.append(rule_id)
    mark_done(job, chunk)
    return {
        "tick": chunk.tick,
        "chunk": chunk.index,
        "rules": len(rules),
        "raised": raised,
        "window_start": start.isoformat(),
    }


WORKER = WorkerSpec(payload=Payload, run=run, plan_section=(PLAN_SECTION, AlertsSettings))
