"""Records messages QStash gave up on. QStash calls the failure-callback URL (a signed message itself)
once a message's retries are exhausted, with a JSON body describing the source message and the
destination's last response; `body` and `sourceBody` are base64."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field

NAME = "failure_callback"


class FailureCallback(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source_message_id: str = Field(alias="sourceMessageId", min_length=1)
    url: str = ""
    status: int | None = None
    retried: int | None = None
    max_retries: int | None = Field(default=None, alias="maxRetries")
    dlq_id: str | None = Field(default=None, alias="dlqId")
    schedule_id: str | None = Field(default=None, alias="scheduleId")
    body: str | None = None
    source_body: str | None = Field(default=None, alias="sourceBody")


def _decode(value: str | None) -> str | None:
    """The message's bytes as text to keep: any bytes may have been sent, so what UTF-8 text cannot hold (bytes
    that are not UTF-8, and NUL, which PostgreSQL text refuses) becomes U+FFFD instead of failing the record."""
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    except (binascii.Error, ValueError):
        return value


def record_failure(conn: psycopg.Connection, callback: FailureCallback) -> dict[str, Any]:
    conn.execute(
        "INSERT INTO failed_messages (source_message_id, url, status, retried, max_retries, dlq_id,"
        " schedule_id, response_body, source_body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (source_message_id) DO UPDATE SET status = EXCLUDED.status, retried = EXCLUDED.retried,"
        " max_retries = EXCLUDED.max_retries, dlq_id = EXCLUDED.dlq_id, response_body = EXCLUDED.response_body,"
        " recorded_at = now()",
        (
            callback.source_message_id,
            callback.url,
            callback.status,
            callback.retried,
            callback.max_retries,
            callback.dlq_id,
            callback.schedule_id,
            _decode(callback.body),
            _decode(callback.source_body),
        ),
    )
    # The job row may still say `running` or `received` if the last attempt crashed: settle it. A job the spend
    # guard deferred keeps its state: it waits for `python -m app.deferred --replay`, it did not fail.
    updated = conn.execute(
        "UPDATE jobs SET state = 'failed', retryable = false,"
        " error = coalesce(error, 'QStash gave up') || ' (retries exhausted)', finished_at = now()"
        " WHERE message_id = %s AND state NOT IN ('done', 'budget_exhausted')"
        " AND NOT (state = 'failed' AND retryable = false AND error LIKE '%%(retries exhausted)')",
        (callback.source_message_id,),
    )
    return {
        "source_message_id": callback.source_message_id,
        "job_updated": updated.rowcount > 0,
    }
