"""content_trends (cron): per user, the most engaged topics of the last `window_days`, summarised by
the trends model, stored per run and cached as the user's latest summary in Redis with a TTL.

Fanned out (app/fanout.py): the tick lists the users active in the window and publishes one message per
chunk of them; each chunk message summarises its users in one transaction, one model call per user at most
(`model_calls_per_unit`). A summary is keyed on user + tick, so a user is summarised once per run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from app.fanout import Chunk, ChunkRef, fan_out, load_chunk, mark_done, nothing_to_do
from app.prompts import text_prompt
from app.workers.base import Job, WorkerSpec

TOP_TOPICS = 5
SYSTEM_PROMPT = "You write two-sentence trend summaries for a creator's dashboard. Be concrete, no hype."

_ACTIVE_USERS_SQL = """
SELECT DISTINCT c.user_id
FROM engagements e
JOIN content_items c ON c.id = e.content_id
WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
ORDER BY c.user_id
"""

_TOPICS_SQL = """
SELECT c.user_id, c.topic, count(e.id) AS engagements, count(DISTINCT c.id) AS items
FROM engagements e
JOIN content_items c ON c.id = e.content_id
WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s AND c.user_id = ANY(%(users)s)
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
    # Set on the messages the tick publishes: the chunk of users this message summarises.
    chunk: ChunkRef | None = None


def cache_key(slug: str, user_id: str) -> str:
    return f"{slug}:trends:latest:{user_id}"


def run(job: Job, payload: Payload) -> dict[str, Any]:
    if payload.chunk is not None:
        chunk = load_chunk(job, payload.chunk)
        if chunk is None or chunk.done:
            return nothing_to_do(payload.chunk, chunk)
        return _summarise_chunk(job, chunk)
    trends = job.resources.plan.section(PLAN_SECTION, TrendsSettings)
    end = (payload.now or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=payload.window_days or trends.window_days)

    def active_users() -> list[str]:
        return [row[0] for row in job.conn.execute(_ACTIVE_USERS_SQL, {"start": start, "end": end})]

    return fan_out(job, active_users, {"window_start": start.isoformat(), "window_end": end.isoformat()})


def _summarise_chunk(job: Job, chunk: Chunk) -> dict[str, Any]:
    plan = job.resources.plan
    trends = plan.section(PLAN_SECTION, TrendsSettings)
    start = datetime.fromisoformat(chunk.params["window_start"])
    end = datetime.fromisoformat(chunk.params["window_end"])
    summarised = {
        row[0]
        for row in job.conn.execute(
            "SELECT user_id FROM trend_summaries WHERE message_id = %s AND user_id = ANY(%s)",
            (chunk.tick, chunk.units),
        )
    }
    by_user: dict[str, list[dict[str, Any]]] = {}
    for user_id, topic, engagements, items in job.conn.execute(
        _TOPICS_SQL, {"start": start, "end": end, "users": chunk.units}
    ):
        topics = by_user.setdefault(user_id, [])
        if len(topics) < TOP_TOPICS:
            topics.append({"topic": topic, "engagements": int(engagements), "items": int(items)})
    done = 0
    for user_id, topics in by_user.items():
        if user_id in summarised:
            continue
        listing = "; ".join(f"{t['topic']}: {t['engagements']} engagements on {t['items']} items" for t in topics)
        completion = job.complete(
            text_prompt(SYSTEM_PROMPT, f"Engagement by topic from {start:%Y-%m-%d} to {end:%Y-%m-%d}: {listing}")
        )
        # `message_id` is the tick's: one summary per user per run, whichever chunk message wrote it.
        job.conn.execute(
            "INSERT INTO trend_summaries (user_id, message_id, window_start, window_end, top_topics, summary, model)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, message_id) DO NOTHING",
            (user_id, chunk.tick, start, end, Jsonb(topics), completion.text, completion.model),
        )
        cached = json.dumps(
            {"summary": completion.text, "top_topics": topics, "window_end": end.isoformat()},
            sort_keys=True,
        )
        job.after_commit(_cache_writer(job, cache_key(plan.project.slug, user_id), cached, trends.cache_ttl_seconds))
        done += 1
    mark_done(job, chunk)
    return {"tick": chunk.tick, "chunk": chunk.index, "users": done}


def _cache_writer(job: Job, key: str, value: str, ttl: int) -> Any:
    redis = job.resources.redis

    def write() -> None:
        redis.set(key, value, ex=ttl)

    return write


WORKER = WorkerSpec(payload=Payload, run=run, plan_section=(PLAN_SECTION, TrendsSettings))
