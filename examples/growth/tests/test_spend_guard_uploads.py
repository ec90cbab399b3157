"""The AI spend guard at the upload worker, through its route: the exhausted budget makes no call and answers 489,
a job runs its model call on a Lambda-sized pool, a crash keeps the spend and its retry does not pay again, and
deferred jobs are replayed once."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.plan import Plan, WorkerPlan
from app.settings import Settings
from app.spend_guard import (
    current_month,
    ledger_state,
)
from tests.helpers import (
    Courier,
    Services,
    blocked_backends,
    deliver_published,
    new_message_id,
    published_to,
    rows,
    scalar,
    wait_until_no_job_lock,
)
from tests.spend_support import dedupe_id, seed_spent, settled_cost

PROJECT_DIR = Path(__file__).resolve().parent.parent
WEBHOOK = "https://alerts.example.test/ai-budget"
RACERS = 16


def _video_worker(plan: Plan) -> WorkerPlan:
    # The upload worker: the one event job with a model call (named through the plan, so that this file says
    # nothing of a worker the plan does not have).
    worker = next((w for w in plan.workers if w.model_use == "video"), None)
    if worker is None:
        pytest.skip("the plan has no upload worker")
    return worker


def test_an_exhausted_budget_makes_no_model_call_and_answers_489(
    settings: Settings, plan: Plan, services: Services, s3: Any, db_conn: psycopg.Connection
) -> None:
    _video_worker(plan)
    seed_spent(db_conn, current_month(), plan.spend_guard.monthly_cap_usd)
    app = create_app(settings, plan)
    with TestClient(app, base_url="http://internal.test") as client:
        response = _deliver_video(Courier(client, services), s3, services, plan, "exhausted")
    assert response.status_code == 489, response.text
    assert response.headers["Upstash-NonRetryable-Error"] == "true"
    assert response.json()["status"] == "budget_exhausted"
    assert "AI budget exhausted" in response.json()["error"]
    assert services.azure.calls == []
    assert rows(db_conn, "SELECT state, retryable FROM jobs") == [("budget_exhausted", False)]
    assert rows(db_conn, "SELECT worker, replayed_at FROM deferred_jobs") == [(_video_worker(plan).name, None)]
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage") == 0
    # The guard refusing counts as 100%: every threshold up to it is raised, once.
    expected = [pct for pct in plan.spend_guard.alert_thresholds_pct if pct <= 100]
    assert [r[0] for r in rows(db_conn, "SELECT threshold_pct FROM spend_alerts ORDER BY 1")] == expected


def test_a_job_runs_its_model_call_with_one_connection_per_pool_as_on_lambda(
    settings: Settings, plan: Plan, services: Services, s3: Any, db_conn: psycopg.Connection
) -> None:
    # The stack gives each worker process a pool of one connection: the job's transaction holds it while the
    # ledger commits, so the ledger must not wait for it.
    _video_worker(plan)
    lambda_like = settings.model_copy(update={"database_pool_min_size": 1, "database_pool_max_size": 1})
    with TestClient(create_app(lambda_like, plan), base_url="http://internal.test") as client:
        response = _deliver_video(Courier(client, services), s3, services, plan, "one-connection")
    assert response.status_code == 200, response.text
    assert len(services.azure.calls) == 1
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage") == 1


def test_a_crash_after_the_model_call_keeps_the_usage_and_the_retry_does_not_call_again(
    courier: Courier, plan: Plan, services: Services, s3: Any, db_conn: psycopg.Connection
) -> None:
    _video_worker(plan)
    message_id = new_message_id()
    # Another session holds the video's row: the job blocks on its upsert, after the model answered.
    db_conn.execute(
        "INSERT INTO videos (video_key, thumbnail_key, user_id, status, message_id)"
        " VALUES ('videos/crash.mp4', 'thumbs/crash.jpg', 'u1', 'rejected', 'earlier')"
    )
    with psycopg.connect(services.database_url) as holder:
        holder.execute("SELECT 1 FROM videos WHERE video_key = 'videos/crash.mp4' FOR UPDATE")
        with ThreadPoolExecutor(max_workers=1) as executor:
            delivery = executor.submit(_deliver_video, courier, s3, services, plan, "crash", message_id)
            (pid,) = blocked_backends(db_conn)
            db_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the job's session dies mid-transaction
            crashed = delivery.result(timeout=30)
        holder.rollback()
    assert crashed.status_code >= 500, crashed.text
    assert len(services.azure.calls) == 1
    # The spend of the call survived the crash: committed when the model answered.
    assert rows(db_conn, "SELECT message_id, worker FROM ai_usage") == [(message_id, _video_worker(plan).name)]
    wait_until_no_job_lock(db_conn)

    retried = _deliver_video(courier, s3, services, plan, "crash", message_id, retried=1)
    assert retried.status_code == 200, retried.text
    assert len(services.azure.calls) == 1  # the stored answer was used: the model is paid for once
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage") == 1
    assert rows(db_conn, "SELECT status, description IS NOT NULL FROM videos") == [("tagged", True)]
    assert rows(db_conn, "SELECT state FROM model_calls") == [("answered",)]
    state = ledger_state(db_conn, plan.spend_guard.monthly_cap_usd, current_month())
    assert state.reserved_usd == 0
    assert state.spent_usd == settled_cost(db_conn, plan) > 0


def _deliver_video(
    courier: Courier,
    s3: Any,
    services: Services,
    plan: Plan,
    name: str,
    message_id: str | None = None,
    retried: int = 0,
) -> Any:
    allowed = str((plan.model_extra or {})["video"]["allowed_content_types"][0])
    s3.put_object(Bucket=services.bucket, Key=f"videos/{name}.mp4", Body=b"\x00" * 64, ContentType=allowed)
    s3.put_object(Bucket=services.bucket, Key=f"thumbs/{name}.jpg", Body=b"\xff\xd8\xff", ContentType="image/jpeg")
    payload = {"video_key": f"videos/{name}.mp4", "thumbnail_key": f"thumbs/{name}.jpg", "user_id": "u1"}
    route = _video_worker(plan).route
    return courier.deliver(route, payload, message_id=message_id, retried=retried)


def test_the_replay_command_runs_deferred_jobs_once(
    settings: Settings,
    courier: Courier,
    plan: Plan,
    services: Services,
    s3: Any,
    db_conn: psycopg.Connection,
) -> None:
    worker = _video_worker(plan)
    tiny = Decimal("0.000001")  # below any call's worst case
    low = settings.model_copy(update={"ai_monthly_cap_usd": tiny})
    with TestClient(create_app(low, plan), base_url="http://internal.test") as client:
        refused = [_deliver_video(Courier(client, services), s3, services, plan, f"d{n}") for n in range(2)]
    assert [r.status_code for r in refused] == [489, 489]
    assert services.azure.calls == []

    listed = _deferred_command(services, cap=tiny)
    assert listed.returncode == 0, listed.stderr
    assert "2 deferred job(s) pending, 2 in all" in listed.stdout
    still = _deferred_command(services, "--replay", cap=tiny)
    assert still.returncode == 1
    assert "still exhausted" in still.stderr
    assert published_to(services.qstash, _route_url(services, worker)) == []

    replayed = _deferred_command(services, "--replay")  # the plan's cap: room again
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 2 deferred job(s)" in replayed.stdout
    again = _deferred_command(services, "--replay")
    assert again.returncode == 0
    assert "no deferred job to replay" in again.stdout
    published = published_to(services.qstash, _route_url(services, worker))
    assert len(published) == 2
    assert {dedupe_id(m) for m in published} == {
        f"replay-{r[0]}" for r in rows(db_conn, "SELECT message_id FROM deferred_jobs")
    }

    answers = deliver_published(courier, published, worker.route)
    assert [a.json()["status"] for a in answers] == ["done", "done"]
    assert len(services.azure.calls) == 2
    assert scalar(db_conn, "SELECT count(*) FROM jobs WHERE state = 'done'") == 2
    assert scalar(db_conn, "SELECT count(*) FROM deferred_jobs WHERE replayed_at IS NULL") == 0


def _deferred_command(services: Services, *args: str, cap: Decimal | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **services.env, "AI_MONTHLY_CAP_USD": "" if cap is None else str(cap)}
    return subprocess.run(
        [sys.executable, "-m", "app.deferred", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _route_url(services: Services, worker: WorkerPlan) -> str:
    return services.public_base_url + worker.route
