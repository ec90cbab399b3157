"""GET /health: database, cache and bucket, each under a short timeout, reported separately."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from app.resources import Resources

_executor = ThreadPoolExecutor(max_workers=6, thread_name_prefix="health")


def _check_database(resources: Resources, timeout: float) -> None:
    with resources.pool.connection(timeout=timeout) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        try:
            conn.execute("SELECT 1").fetchone()
        finally:
            conn.execute("RESET statement_timeout")  # back to the plan's (app/db.py)


def _check_cache(resources: Resources, timeout: float) -> None:
    resources.redis.ping()


def _check_bucket(resources: Resources, timeout: float) -> None:
    resources.s3.head_bucket(resources.settings.s3_bucket)


CHECKS: dict[str, Callable[[Resources, float], None]] = {
    "database": _check_database,
    "cache": _check_cache,
    "bucket": _check_bucket,
}


def check_health(resources: Resources) -> tuple[bool, dict[str, Any]]:
    timeout = resources.settings.health_timeout_seconds
    started = {
        name: (time.perf_counter(), _executor.submit(check, resources, timeout)) for name, check in CHECKS.items()
    }
    report: dict[str, Any] = {}
    for name, (t0, future) in started.items():
        remaining = max(0.0, timeout - (time.perf_counter() - t0))
        try:
            future.result(timeout=remaining)
            report[name] = {
                "ok": True,
                "ms": round((time.perf_counter() - t0) * 1000, 1),
            }
        except FutureTimeout:
            report[name] = {"ok": False, "error": f"timed out after {timeout:g}s"}
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
            report[name] = {"ok": False, "error": type(exc).__name__}
    return all(item["ok"] for item in report.values()), report
