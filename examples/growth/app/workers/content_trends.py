"""content_trends (cron): per user, the most engaged topics of the last `window_days`, summarised by
the trends model, stored per run and cached as the user's latest summary in Redis with a TTL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from app.ai import text_prompt
from app.workers.base import Job, WorkerSpec

TOP_TOPICS = 5
SYSTEM_PROMPT = "You write two-sentence trend summaries for a creator's dashboard. Be concrete, no hype."

_TOPICS_SQL = """
SELECT c.user_id, c.topic, count(e.id) AS engagements, count(DISTINCT c.id) AS items
FROM engagements e
JOIN content_items c ON c.id = e.content_id
WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
GROUP BY c.user_id, c.topic
ORDER BY c.user_id, engagements DESC, c.topic
"""


class TrendsSettings(BaseModel):
    """This worker's section of the plan (`trends` in app/plan.json)."""

    cache_ttl_seconds: int = Field(gt=0)
    window_days: int = Field(gt=0)


PLAN_SECTION = "trends"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Cron deliveries send no body: the window ends at delivery time. Tests and backfills pin `now`.
    now: datetime | None = None
    window_days: int | None = Field(default=None, gt=0, le=90)


def cache_key(slug: str, user_id: str) -> str:
    return f"{slug}:trends:latest:{user_id}"


def _topics_by_user(job: Job, start: datetime, end: datetime) -> dict[str, list[dict[str, Any]]]:
    by_user: dict[str, list[dict[str, Any]]] = {}
    for user_id, topic, engagements, items in job.conn.execute(_TOPICS_SQL, {"start": start, "end": end}):
        topics = by_user.setdefault(user_id, [])
        if len(topics) < TOP_TOPICS:
            topics.append({"topic": topic, "engagements": int(engagements), "items": int(items)})
    return by_user


def run(job: Job, payload: Payload) -> dict[str, Any]:
    plan = job.resources.plan
    trends = plan.section(PLAN_SECTION, TrendsSettings)
    end = (payload.now or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=payload.window_days or trends.window_days)
    summaries: dict[str, str] = {}
    for user_id, topics in _topics_by_user(job, start, end).items():
        listing = "; ".join(f"{t['topic']}: {t['engagements']} engagements on {t['items']} items" for t in topics)
        completion = job.complete(
            text_prompt(
                SYSTEM_PROMPT,
                f"Engagement by topic from {start:%Y-%m-%d} to {end:%Y-%m-%d}: {listing}",
            ),
            max_tokens=200,
        )
        job.conn.execute(
            "INSERT INTO trend_summaries (user_id, message_id, window_start, window_end, top_topics, summary, model)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, message_id) DO UPDATE SET"
            " window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,"
            " top_topics = EXCLUDED.top_topics, summary = EXCLUDED.summary, model = EXCLUDED.model",
            (
                user_id,
                job.message_id,
                start,
                end,
                Jsonb(topics),
                completion.text,
                completion.model,
            ),
        )
        summaries[user_id] = completion.text
        cached = json.dumps(
            {
                "summary": completion.text,
                "top_topics": topics,
                "window_end": end.isoformat(),
            },
            sort_keys=True,
        )
        job.after_commit(
            _cache_writer(
                job,
                cache_key(plan.project.slug, user_id),
                cached,
                trends.cache_ttl_seconds,
            )
        )
    return {
        "users": len(summaries),
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
    }


def _cache_writer(job: Job, key: str, value: str, ttl: int) -> Any:
    redis = job.resources.redis

    def write() -> None:
        redis.set(key, value, ex=ttl)

    return write


WORKER = WorkerSpec(payload=Payload, run=run, plan_section=(PLAN_SECTION, TrendsSettings))
