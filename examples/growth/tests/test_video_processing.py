"""video_processing: object checks against S3, multimodal tagging via a presigned URL, stored status.

The model and the limits come from app/plan.json, as the worker reads them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
from fastapi.testclient import TestClient

from app.api import create_app
from app.plan import Plan
from app.settings import Settings
from app.workers.video_processing import PLAN_SECTION, VideoLimits, parse_labels
from tests.helpers import Courier, Services, new_message_id, rows, scalar

ROUTE = "/workers/video-processing"
DISALLOWED_TYPE = "video/x-msvideo"


def _model(plan: Plan) -> str:
    return str(plan.worker("video_processing").model)


def _allowed_type(plan: Plan) -> str:
    return plan.section(PLAN_SECTION, VideoLimits).allowed_content_types[0]


def _put(s3: Any, services: Services, key: str, body: bytes, content_type: str) -> None:
    s3.put_object(Bucket=services.bucket, Key=key, Body=body, ContentType=content_type)


def test_tags_and_describes_the_thumbnail(
    courier: Courier, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    model, video_type = _model(plan), _allowed_type(plan)
    _put(s3, services, "videos/v1.mp4", b"\x00" * 2048, video_type)
    _put(s3, services, "thumbs/v1.jpg", b"\xff\xd8\xff", "image/jpeg")
    payload = {"video_key": "videos/v1.mp4", "thumbnail_key": "thumbs/v1.jpg", "user_id": "u7"}
    response = courier.deliver(ROUTE, payload)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"status": "tagged", "tags": ["daylight", "outdoor", "people"]}
    assert rows(db_conn, "SELECT user_id, status, size_bytes, content_type, tags, description, model FROM videos") == [
        (
            "u7",
            "tagged",
            2048,
            video_type,
            ["daylight", "outdoor", "people"],
            f"An image described by {model}.",
            model,
        )
    ]
    (call,) = services.azure.calls
    assert call.model == model
    image = next(part for part in call.messages[1]["content"] if part["type"] == "image_url")
    url = urlparse(image["image_url"]["url"])
    assert url.path == f"/{services.bucket}/thumbs/v1.jpg"
    assert "X-Amz-Signature" in parse_qs(url.query)
    usage = rows(db_conn, "SELECT worker, model, prompt_tokens > 0, completion_tokens > 0 FROM ai_usage")
    assert usage == [("video_processing", model, True, True)]


def test_disallowed_type_is_stored_as_rejected_without_a_model_call(
    courier: Courier, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    assert DISALLOWED_TYPE not in plan.section(PLAN_SECTION, VideoLimits).allowed_content_types
    _put(s3, services, "videos/v2.avi", b"\x00" * 10, DISALLOWED_TYPE)
    _put(s3, services, "thumbs/v2.jpg", b"\xff", "image/jpeg")
    response = courier.deliver(ROUTE, {"video_key": "videos/v2.avi", "thumbnail_key": "thumbs/v2.jpg"})
    assert response.status_code == 200
    assert rows(db_conn, "SELECT status, reject_reason FROM videos") == [
        ("rejected", "video type video/x-msvideo is not allowed")
    ]
    assert services.azure.calls == []


def test_oversized_video_is_rejected(
    settings: Settings, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    limits = plan.section(PLAN_SECTION, VideoLimits)
    small = plan.model_copy(update={PLAN_SECTION: limits.model_copy(update={"max_bytes": 100}).model_dump()})
    _put(s3, services, "videos/v3.mp4", b"\x00" * 101, _allowed_type(plan))
    _put(s3, services, "thumbs/v3.jpg", b"\xff", "image/jpeg")
    with TestClient(create_app(settings, small)) as client:
        response = Courier(client, services).deliver(
            ROUTE, {"video_key": "videos/v3.mp4", "thumbnail_key": "thumbs/v3.jpg"}
        )
    assert response.status_code == 200
    assert rows(db_conn, "SELECT status, reject_reason, size_bytes FROM videos") == [
        ("rejected", "video is 101 bytes; the limit is 100", 101)
    ]


def test_missing_thumbnail_is_permanent(
    courier: Courier, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    _put(s3, services, "videos/v4.mp4", b"\x00", _allowed_type(plan))
    response = courier.deliver(ROUTE, {"video_key": "videos/v4.mp4", "thumbnail_key": "thumbs/none.jpg"})
    assert response.status_code == 489
    assert rows(db_conn, "SELECT state, error FROM jobs") == [("failed", "thumbnail thumbs/none.jpg not found")]
    assert rows(db_conn, "SELECT count(*) FROM videos") == [(0,)]


def test_reprocessing_a_video_overwrites_its_row(
    courier: Courier, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    _put(s3, services, "videos/v5.mp4", b"\x00", _allowed_type(plan))
    _put(s3, services, "thumbs/v5.jpg", b"\xff", "image/jpeg")
    payload = {"video_key": "videos/v5.mp4", "thumbnail_key": "thumbs/v5.jpg"}
    assert courier.deliver(ROUTE, payload).status_code == 200
    assert courier.deliver(ROUTE, payload).status_code == 200  # a second, distinct message
    assert rows(db_conn, "SELECT count(*) FROM videos") == [(1,)]
    assert rows(db_conn, "SELECT count(*) FROM ai_usage") == [(2,)]


def test_a_duplicate_delivery_calls_the_model_once(
    courier: Courier, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    _put(s3, services, "videos/v6.mp4", b"\x00", _allowed_type(plan))
    _put(s3, services, "thumbs/v6.jpg", b"\xff", "image/jpeg")
    payload = {"video_key": "videos/v6.mp4", "thumbnail_key": "thumbs/v6.jpg"}
    message_id = new_message_id()
    assert courier.deliver(ROUTE, payload, message_id=message_id).json()["status"] == "done"
    assert courier.deliver(ROUTE, payload, message_id=message_id).json()["status"] == "duplicate"
    assert len(services.azure.calls) == 1  # the model is paid for once
    assert rows(db_conn, "SELECT state, runs FROM jobs") == [("done", 1)]
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage") == 1


def test_model_failure_answers_5xx_and_the_retry_completes(
    courier: Courier, plan: Plan, s3: Any, services: Services, db_conn: psycopg.Connection
) -> None:
    _put(s3, services, "videos/v7.mp4", b"\x00", _allowed_type(plan))
    _put(s3, services, "thumbs/v7.jpg", b"\xff", "image/jpeg")
    payload = {"video_key": "videos/v7.mp4", "thumbnail_key": "thumbs/v7.jpg"}
    message_id = new_message_id()
    services.azure.fail_next(503)
    failed = courier.deliver(ROUTE, payload, message_id=message_id)
    assert failed.status_code == 500
    assert "Upstash-NonRetryable-Error" not in failed.headers
    assert rows(db_conn, "SELECT state, retryable, attempts FROM jobs") == [("failed", True, 0)]
    assert "503" in scalar(db_conn, "SELECT error FROM jobs")
    assert scalar(db_conn, "SELECT count(*) FROM videos") == 0  # rolled back

    retried = courier.deliver(ROUTE, payload, message_id=message_id, retried=1)
    assert retried.status_code == 200
    assert rows(db_conn, "SELECT state, attempts, runs, error FROM jobs") == [("done", 1, 2, None)]
    assert scalar(db_conn, "SELECT status FROM videos") == "tagged"


def test_label_parsing_tolerates_prose_and_bad_json() -> None:
    assert parse_labels('Sure! ```json\n{"tags": ["B", "a", "a"], "description": " x "}\n```') == (["a", "b"], "x")
    assert parse_labels("just words") == ([], "just words")
    assert parse_labels('{"tags": "nope"}') == ([], "")


def test_a_key_with_a_nul_character_is_permanent(courier: Courier, db_conn: psycopg.Connection) -> None:
    message_id = new_message_id()
    response = courier.deliver(ROUTE, {"video_key": "a\u0000b", "thumbnail_key": "t.png"}, message_id=message_id)
    assert response.status_code == 489, response.text
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    error = "invalid payload: video_key: contains a NUL character"
    assert response.json() == {"status": "failed", "retryable": False, "error": error}
    assert rows(db_conn, "SELECT state, retryable, error FROM jobs WHERE message_id = %s", message_id) == [
        ("failed", False, error)
    ]
    assert scalar(db_conn, "SELECT count(*) FROM videos") == 0
