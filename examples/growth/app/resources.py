"""The long-lived clients one process shares across requests (built once, reused by warm Lambdas)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from psycopg_pool import ConnectionPool
from qstash import QStash

from app.ai import AIService, create_ai_client
from app.cache import create_redis
from app.db import create_pool
from app.plan import Plan
from app.publisher import create_qstash
from app.settings import Settings
from app.signature import SignatureVerifier
from app.storage import create_s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class Resources:
    settings: Settings
    plan: Plan
    pool: ConnectionPool
    redis: redis.Redis
    s3: S3Client
    ai: AIService
    qstash: QStash
    verifier: SignatureVerifier

    def close(self) -> None:
        self.pool.close()
        self.redis.close()
        self.ai.close()


def build_resources(settings: Settings, plan: Plan) -> Resources:
    pool = create_pool(settings, job_timeout_seconds=plan.qstash.timeout_seconds)
    pool.open(wait=False)
    return Resources(
        settings=settings,
        plan=plan,
        pool=pool,
        redis=create_redis(settings),
        s3=create_s3(settings),
        ai=AIService(create_ai_client(settings)),
        qstash=create_qstash(settings),
        verifier=SignatureVerifier(settings, clock_tolerance_seconds=plan.qstash.signature_clock_tolerance_seconds),
    )


class LazyResources:
    """Builds the clients on first use, so importing the app (Lambda init, tests) needs no network."""

    def __init__(self, settings: Settings, plan: Plan) -> None:
        self._settings = settings
        self._plan = plan
        self._resources: Resources | None = None
        self._lock = threading.Lock()

    def get(self) -> Resources:
        if self._resources is None:
            with self._lock:
                if self._resources is None:
                    self._resources = build_resources(self._settings, self._plan)
        return self._resources

    def close(self) -> None:
        with self._lock:
            if self._resources is not None:
                self._resources.close()
                self._resources = None
