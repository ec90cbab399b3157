"""Exactly-once execution of a job in PostgreSQL.

Protocol for message M; each step says why it holds. WORKERS-QSTASH-GUIDE.md ("Retries, idempotency and
dead letters") tells the same protocol to the people who publish messages:
1. `INSERT jobs(M, state=received) ON CONFLICT DO NOTHING` (autocommit): the delivery is on record.
2. `pg_try_advisory_lock(hash(M))` on this session: only one runner per message at a time. Held by a
   live connection, so a crashed runner releases it the moment its connection drops.
   Not acquired -> IN_PROGRESS (the caller answers a retryable status; the message is not lost).
3. `UPDATE jobs SET state=running ... WHERE M AND state <> done`: no row -> DUPLICATE, nothing runs.
   A row left `running` by a crashed runner is picked up again here: its effects were rolled back.
4. One transaction: the worker's effects + `state=done`. They commit together or not at all.
5. On error: roll back, record `failed` with the error and whether retrying can help, in a statement of its
   own that cannot fail the delivery (a job is never left `running` because its error could not be stored).
   Errors that the same input would raise again (bad data, not a bad moment) are not retryable. A job the
   spend guard refused (the month's AI budget cannot cover its next model call) is recorded `budget_exhausted`.
6. Release the lock. Model calls are not part of the job's transaction: app/spend_guard.py commits each one's
   usage and answer the moment the model answers, so neither a failed job nor a crash loses spend, and the
   retry reuses the stored answers instead of paying for them again.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from app.errors import BudgetExhaustedError, JobError
from app.prompts import Completion

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 2000

# Raised by the input itself, so a retry would raise them again: values out of range (a date past year 9999),
# nesting deeper than the parser allows, text the database cannot hold (psycopg.DataError is SQLSTATE class 22,
# "data exception": https://www.postgresql.org/docs/current/errcodes-appendix.html, read 2026-11-25).
_SAME_INPUT_SAME_ERROR = (OverflowError, RecursionError, UnicodeError, psycopg.DataError)


class Outcome(enum.Enum):
    DONE = "done"
    DUPLICATE = "duplicate"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"
    BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass
class JobResult:
    outcome: Outcome
    result: dict[str, Any] | None = None
    error: str | None = None
    retryable: bool = True


@dataclass
class UsageLog:
    """AI calls made during one job (app/spend_guard.py has already committed each one's usage)."""

    worker: str
    message_id: str
    completions: list[Completion] = field(default_factory=list)

    def add(self, completion: Completion) -> None:
        self.completions.append(completion)


Effect = Callable[[psycopg.Connection], dict[str, Any]]


def lock_key(message_id: str) -> int:
    return int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big", signed=True)


def run_once(
    pool: ConnectionPool,
    *,
    message_id: str,
    worker: str,
    retried: int,
    effect: Effect,
) -> JobResult:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO jobs (message_id, worker, state, attempts) VALUES (%s, %s, 'received', %s)"
            " ON CONFLICT (message_id) DO NOTHING",
            (message_id, worker, retried),
        )
        key = lock_key(message_id)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not row or not row[0]:
            return JobResult(Outcome.IN_PROGRESS)
        try:
            return _run_locked(conn, message_id=message_id, retried=retried, effect=effect)
        finally:
            _unlock(conn, key)


def _run_locked(
    conn: psycopg.Connection,
    *,
    message_id: str,
    retried: int,
    effect: Effect,
) -> JobResult:
    claimed = conn.execute(
        "UPDATE jobs SET state = 'running', attempts = %s, runs = runs + 1, started_at = now(),"
        " finished_at = NULL WHERE message_id = %s AND state <> 'done' RETURNING message_id",
        (retried, message_id),
    ).fetchone()
    if claimed is None:
        return JobResult(Outcome.DUPLICATE)
    try:
        with conn.transaction():
            result = effect(conn)
            conn.execute(
                "UPDATE jobs SET state = 'done', finished_at = now(), result = %s, error = NULL,"
                " retryable = NULL WHERE message_id = %s",
                (Jsonb(result), message_id),
            )
    except Exception as exc:
        retryable = exc.retryable if isinstance(exc, JobError) else not isinstance(exc, _SAME_INPUT_SAME_ERROR)
        error = _describe(exc)
        if not isinstance(exc, JobError):
            log.exception("job %s failed unexpectedly", message_id)
        exhausted = isinstance(exc, BudgetExhaustedError)
        state = Outcome.BUDGET_EXHAUSTED if exhausted else Outcome.FAILED
        _record_failure(conn, message_id, error, retryable, state=state.value)
        return JobResult(state, error=error, retryable=retryable)
    return JobResult(Outcome.DONE, result=result)


def printable(text: str) -> str:
    """`text` as PostgreSQL can store it: NUL and lone surrogates written as escapes."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, JobError) else f"{type(exc).__name__}: {exc}"
    return printable(text[:_MAX_ERROR_CHARS])


def _record_failure(
    conn: psycopg.Connection, message_id: str, error: str, retryable: bool, *, state: str = "failed"
) -> None:
    """Never raises: the delivery's answer must not depend on whether its error could be stored."""
    for text in (error, "the error could not be recorded; see the log"):
        if conn.broken:
            return  # the server ended the session; the retry will find the row `running` and run it again
        try:
            with conn.transaction():
                conn.execute(
                    "UPDATE jobs SET state = %s, error = %s, retryable = %s, finished_at = now()"
                    " WHERE message_id = %s AND state <> 'done'",
                    (state, text, retryable, message_id),
                )
            return
        except Exception:  # any failure here is logged, never raised
            log.exception("could not record the failure of job %s", message_id)


def _unlock(conn: psycopg.Connection, key: int) -> None:
    if conn.broken:
        return  # the server drops a broken session's locks itself
    try:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    except psycopg.Error:
        log.warning("could not release job lock; closing the connection releases it")
        conn.close()
