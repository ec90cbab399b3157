"""Fan-out of cron work that grows with users: the tick enumerates, chunk messages do the work.

A cron tick (the schedule's message) does no per-user work. It lists the units (user ids), splits them into
chunks of the plan's `chunk_size`, writes them to `fanout_chunks` and publishes one message per chunk to the
same worker route through QStash's batch API, with the workers' flow control (app/publisher.py), all in the
tick's own job (app/jobs.py: one transaction, committed with the job). Each chunk message is a job of its
own: deduplicated on its message id, one transaction, at most `chunk_size` x `model_calls_per_unit` model
calls, cut off at the message deadline.

Why nothing runs twice and nobody is left out:
- A chunk's deduplication id is derived from tick + chunk index: a tick that failed after publishing some
  chunks is retried, publishes them all again, and QStash drops each one it already has ("Deduplication",
  https://upstash.com/docs/qstash/features/deduplication, read 2026-11-25: a message with a deduplication id
  QStash has seen is accepted and not enqueued again).
- A chunk message names only tick + index; its users are read from the chunks the tick COMMITTED. A failed
  tick's chunks were rolled back, so a chunk message that arrives before the retried tick has committed waits
  for the tick's job to end and, finding no chunk, asks QStash to deliver it again later; once the tick has
  committed, every index of its committed list has exactly one message (an index past the end, left from a
  failed attempt that listed more users, has nothing to do).
- A chunk marks its row done in its own transaction, and the worker keys its effects on tick + user: a copy of
  a chunk that slipped past both (QStash's deduplication window has passed) finds the row done and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field
from qstash.errors import QStashError

from app.errors import PermanentJobError, RetryableJobError
from app.jobs import lock_key
from app.publisher import publish_batch_to_worker
from app.workers.base import Job


class ChunkRef(BaseModel):
    """The body of a chunk message names its chunk; the chunk's users and window are in `fanout_chunks`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: str = Field(min_length=1, max_length=200)
    index: int = Field(ge=0)


@dataclass(frozen=True)
class Chunk:
    tick: str
    index: int
    units: list[str]
    params: dict[str, Any]
    done: bool


def deduplication_id(slug: str, worker: str, tick: str, index: int) -> str:
    return f"{slug}-{worker}-{tick}-{index}"


def chunked(units: Sequence[str], size: int) -> list[list[str]]:
    return [list(units[start : start + size]) for start in range(0, len(units), size)]


def fan_out(job: Job, list_units: Callable[[], Sequence[str]], params: dict[str, Any]) -> dict[str, Any]:
    """Runs a tick: the chunks of `list_units()` written and published; returns the tick's result."""
    size = job.worker.limits.chunk_size
    if size is None:
        raise PermanentJobError(f"worker {job.worker.name} has no chunk_size in the plan")
    tick = job.message_id
    chunks = chunked(list_units(), size)
    with job.conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fanout_chunks (tick_id, chunk, worker, units, params) VALUES (%s, %s, %s, %s, %s)",
            [(tick, index, job.worker.name, Jsonb(units), Jsonb(params)) for index, units in enumerate(chunks)],
        )
    plan = job.resources.plan
    messages = [
        ({"chunk": {"tick": tick, "index": index}}, deduplication_id(plan.project.slug, job.worker.name, tick, index))
        for index in range(len(chunks))
    ]
    try:
        published = publish_batch_to_worker(
            job.resources.qstash, plan, job.resources.settings.public_base_url, job.worker.route, messages
        )
    except QStashError as exc:
        # The batches before this one are queued; the retried tick publishes them again and QStash drops them.
        raise RetryableJobError(f"tick {tick}: chunks not all published: {exc}") from exc
    fresh = sum(not p.deduplicated for p in published)
    return {
        "tick": tick,
        "units": sum(len(units) for units in chunks),
        "chunks": len(chunks),
        "published": fresh,
        "deduplicated": len(published) - fresh,
        **params,
    }


def load_chunk(job: Job, ref: ChunkRef) -> Chunk | None:
    """The chunk a message names, locked for this transaction; None when its tick committed no such chunk (an
    index left from a failed attempt of the tick that listed more users: nothing to do)."""
    # The tick's job holds its lock while it writes and publishes: wait for it to end, committed or not.
    key = lock_key(ref.tick)
    job.conn.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
    job.conn.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
    row = job.conn.execute(
        "SELECT worker, units, params, done_at IS NOT NULL FROM fanout_chunks WHERE tick_id = %s AND chunk = %s"
        " FOR UPDATE",
        (ref.tick, ref.index),
    ).fetchone()
    if row is not None:
        if row[0] != job.worker.name:
            raise PermanentJobError(f"chunk {ref.index} of tick {ref.tick} is not a {job.worker.name} chunk")
        return Chunk(tick=ref.tick, index=ref.index, units=list(row[1]), params=dict(row[2]), done=bool(row[3]))
    tick = job.conn.execute("SELECT worker, state FROM jobs WHERE message_id = %s", (ref.tick,)).fetchone()
    if tick is None or tick[0] != job.worker.name:
        raise PermanentJobError(f"tick {ref.tick} is not a {job.worker.name} tick this service received")
    if tick[1] != "done":
        # The tick failed after publishing; its retry writes the chunks (or has not been delivered yet).
        raise RetryableJobError(f"tick {ref.tick} has not committed its chunks yet")
    return None


def nothing_to_do(ref: ChunkRef, chunk: Chunk | None) -> dict[str, Any]:
    """The result of a chunk message whose chunk is done already, or past the end of its tick's chunks."""
    why = "already_done" if chunk is not None and chunk.done else "past_the_ticks_chunks"
    return {"tick": ref.tick, "chunk": ref.index, "users": 0, why: True}


def mark_done(job: Job, chunk: Chunk) -> None:
    """In the chunk's transaction: the chunk's effects and its done mark commit together."""
    job.conn.execute(
        "UPDATE fanout_chunks SET done_at = now(), message_id = %s WHERE tick_id = %s AND chunk = %s",
        (job.message_id, chunk.tick, chunk.index),
    )
