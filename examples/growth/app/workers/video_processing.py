"""video_processing (event): a video and its thumbnail were uploaded to S3.

Checks both objects exist, the video's size and type are allowed by the plan, asks the multimodal model
to tag and describe the thumbnail (read through a presigned URL), and stores tags and status keyed by
the video's S3 key, so re-processing the same video overwrites instead of duplicating.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from app.errors import PermanentJobError, RetryableJobError
from app.prompts import image_prompt
from app.workers.base import Job, WorkerSpec

if TYPE_CHECKING:
    from app.aws import S3Client

PRESIGNED_URL_SECONDS = 900
MAX_TAGS = 12
SYSTEM_PROMPT = (
    "You label video thumbnails for a content platform. Answer with JSON only: "
    '{"tags": [up to 12 short lowercase tags], "description": "one sentence"}.'
)


class VideoLimits(BaseModel):
    """This worker's section of the plan (`video` in app/plan.json)."""

    max_bytes: int = Field(gt=0)
    allowed_content_types: tuple[str, ...]


PLAN_SECTION = "video"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    video_key: str = Field(min_length=1, max_length=1024)
    thumbnail_key: str = Field(min_length=1, max_length=1024)
    user_id: str | None = Field(default=None, max_length=200)


def _head(s3: S3Client, bucket: str, key: str) -> tuple[int, str] | None:
    from app.aws import AwsError

    try:
        head = s3.head_object(bucket, key)
    except AwsError as exc:
        if exc.status == 404:  # no such key (a HEAD answer has no body, hence no error code)
            return None
        if exc.status is None:
            raise RetryableJobError(f"S3 unreachable: {exc.code}") from exc
        raise RetryableJobError(f"S3 head_object failed for {key}: {exc.code}") from exc
    return head.size, head.content_type


def parse_labels(text: str) -> tuple[list[str], str]:
    """Models sometimes wrap JSON in prose or code fences; fall back to the raw text as description."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data: Any = json.loads(text[start : end + 1]) if start >= 0 < end else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return [], text.strip()[:1000]
    raw_tags = data.get("tags")
    if not isinstance(raw_tags, list):
        raw_tags = []
    tags = sorted({str(t).strip().lower()[:40] for t in raw_tags if str(t).strip()})[:MAX_TAGS]
    return tags, str(data.get("description", "")).strip()[:1000]


def _store(job: Job, payload: Payload, **fields: Any) -> None:
    job.conn.execute(
        "INSERT INTO videos (video_key, thumbnail_key, user_id, status, reject_reason, size_bytes,"
        " content_type, tags, description, model, message_id)"
        " VALUES (%(video_key)s, %(thumbnail_key)s, %(user_id)s, %(status)s, %(reject_reason)s,"
        " %(size_bytes)s, %(content_type)s, %(tags)s, %(description)s, %(model)s, %(message_id)s)"
        " ON CONFLICT (video_key) DO UPDATE SET thumbnail_key = EXCLUDED.thumbnail_key,"
        " user_id = EXCLUDED.user_id, status = EXCLUDED.status, reject_reason = EXCLUDED.reject_reason,"
        " size_bytes = EXCLUDED.size_bytes, content_type = EXCLUDED.content_type, tags = EXCLUDED.tags,"
        " description = EXCLUDED.description, model = EXCLUDED.model, message_id = EXCLUDED.message_id,"
        " processed_at = now()",
        {
            "video_key": payload.video_key,
            "thumbnail_key": payload.thumbnail_key,
            "user_id": payload.user_id,
            "message_id": job.message_id,
            "reject_reason": None,
            "tags": [],
            "description": None,
            "model": None,
            **fields,
        },
    )


def run(job: Job, payload: Payload) -> dict[str, Any]:
    limits = job.resources.plan.section(PLAN_SECTION, VideoLimits)
    s3 = job.resources.s3
    bucket = job.resources.settings.s3_bucket
    video = _head(s3, bucket, payload.video_key)
    if video is None:
        raise PermanentJobError(f"video {payload.video_key} not found")
    thumbnail = _head(s3, bucket, payload.thumbnail_key)
    if thumbnail is None:
        raise PermanentJobError(f"thumbnail {payload.thumbnail_key} not found")
    size, content_type = video
    reason = None
    if size > limits.max_bytes:
        reason = f"video is {size} bytes; the limit is {limits.max_bytes}"
    elif content_type not in limits.allowed_content_types:
        reason = f"video type {content_type or 'unknown'} is not allowed"
    elif not thumbnail[1].startswith("image/"):
        reason = f"thumbnail type {thumbnail[1] or 'unknown'} is not an image"
    if reason:
        _store(
            job,
            payload,
            status="rejected",
            reject_reason=reason,
            size_bytes=size,
            content_type=content_type,
        )
        return {"status": "rejected", "reason": reason}

    url = s3.presigned_get_url(bucket, payload.thumbnail_key, expires_seconds=PRESIGNED_URL_SECONDS)
    completion = job.complete(image_prompt(SYSTEM_PROMPT, "Tag and describe this video thumbnail.", url))
    tags, description = parse_labels(completion.text)
    _store(
        job,
        payload,
        status="tagged",
        size_bytes=size,
        content_type=content_type,
        tags=tags,
        description=description,
        model=completion.model,
    )
    return {"status": "tagged", "tags": tags}


WORKER = WorkerSpec(payload=Payload, run=run, plan_section=(PLAN_SECTION, VideoLimits))
