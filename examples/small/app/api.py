"""The ASGI app: one signed POST route per worker in the plan, the failure callback, and /health."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.delivery import (
    NON_RETRYABLE_HEADER,
    NON_RETRYABLE_STATUS,
    Answer,
    Delivery,
    deliver,
    parse_payload,
)
from app.failure_callback import (
    NAME as FAILURE_CALLBACK,
)
from app.failure_callback import (
    FailureCallback,
    record_failure,
)
from app.health import check_health
from app.jobs import UsageLog
from app.logs import configure_logging
from app.plan import Plan, WorkerPlan, load_plan
from app.resources import LazyResources, Resources
from app.settings import Settings, get_settings
from app.workers import load_workers
from app.workers.base import Job, WorkerSpec

log = logging.getLogger(__name__)


class _BodyTooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _respond(answer: Answer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _worker_body(
    resources: Resources,
    plan: WorkerPlan,
    spec: WorkerSpec[Any],
    raw: bytes,
    delivery: Delivery,
) -> Any:
    # The message's time starts when its work starts, waits for a connection or a lock included.
    deadline = time.monotonic() + plan.limits.message_deadline_seconds

    def body(conn: psycopg.Connection, usage: UsageLog, after_commit: list[Any]) -> dict[str, Any]:
        payload = parse_payload(raw, spec.payload)
        job = Job(
            message_id=delivery.message_id or "",
            retried=delivery.retried,
            worker=plan,
            conn=conn,
            resources=resources,
            usage=usage,
            deadline=deadline,
            _after_commit=after_commit,
        )
        return spec.run(job, payload)

    return body


def _failure_body(raw: bytes) -> Any:
    def body(conn: psycopg.Connection, usage: UsageLog, after_commit: list[Any]) -> dict[str, Any]:
        callback = parse_payload(raw, FailureCallback)
        assert isinstance(callback, FailureCallback)
        return record_failure(conn, callback)

    return body


def create_app(settings: Settings | None = None, plan: Plan | None = None) -> FastAPI:
    settings = settings or get_settings()
    plan = plan or load_plan(settings.plan_path)
    specs = load_workers(plan)
    holder = LazyResources(settings, plan)
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(holder.close)

    app = FastAPI(
        title=f"{plan.project.name} workers",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.resources = holder

    async def handle(request: Request, route: str, name: str, make_body: Any, limit: int) -> JSONResponse:
        try:
            raw = await _read_body(request, limit)
        except _BodyTooLargeError:
            return _respond(
                Answer(
                    NON_RETRYABLE_STATUS,
                    {"error": f"body larger than {limit} bytes"},
                    NON_RETRYABLE_HEADER,
                )
            )
        delivery = Delivery.from_headers(request.headers, raw, settings.route_url(route))

        def work() -> Answer:
            resources = holder.get()
            return deliver(
                resources,
                delivery,
                worker=name,
                body=make_body(resources, raw, delivery),
            )

        try:
            answer = await run_in_threadpool(work)
        except Exception:  # e.g. the database unreachable: QStash retries; the log has the cause
            log.exception("delivery to %s failed before its job could run", route)
            answer = Answer(500, {"status": "failed", "retryable": True, "error": "internal error"})
        return _respond(answer)

    def worker_route(worker: WorkerPlan, spec: WorkerSpec[Any]) -> Any:
        def make_body(resources: Resources, raw: bytes, delivery: Delivery) -> Any:
            return _worker_body(resources, worker, spec, raw, delivery)

        async def route(request: Request) -> JSONResponse:
            return await handle(request, worker.route, worker.name, make_body, worker.limits.max_payload_bytes)

        return route

    for worker in plan.workers:
        app.add_api_route(
            worker.route,
            worker_route(worker, specs[worker.name]),
            methods=["POST"],
            name=worker.name,
            include_in_schema=False,
        )

    failure_route = plan.qstash.failure_callback_route

    async def failure_callback(request: Request) -> JSONResponse:
        return await handle(
            request,
            failure_route,
            FAILURE_CALLBACK,
            lambda _r, raw, _d: _failure_body(raw),
            plan.qstash.max_body_bytes,
        )

    app.add_api_route(
        failure_route,
        failure_callback,
        methods=["POST"],
        name=FAILURE_CALLBACK,
        include_in_schema=False,
    )

    @app.get("/livez")
    async def livez() -> JSONResponse:
        """Liveness only (no dependency checks): for process supervisors and as the benchmark's baseline."""
        # Not `-> dict[str, bool]`: FastAPI makes a response model of a return annotation, and checking it
        # imports pydantic.v1, tens of milliseconds of every cold start.
        return JSONResponse({"ok": True})

    @app.get("/health")
    async def health() -> JSONResponse:
        ok, report = await run_in_threadpool(lambda: check_health(holder.get()))
        return JSONResponse({"ok": ok, "checks": report}, status_code=200 if ok else 503)

    return app
