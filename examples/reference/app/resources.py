"""The long-lived clients one process shares across requests (built once, reused by warm Lambdas).

Each client is built, and its SDK imported, by the first request that uses it: a cold start pays for what its
route uses (the failure callback never opens an AWS or AI connection: see benchmarks/cold_start.py), and importing
the app (Lambda's init, the tests) needs no network. Later requests reuse what the first ones built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from app.plan import Plan
from app.settings import Settings

if TYPE_CHECKING:
    import redis
    from psycopg_pool import ConnectionPool
    from qstash import QStash

    from app.ai import AIService
    from app.aws import AwsClients, S3Client
    from app.db_credentials import DatabaseCredentials
    from app.publisher import QStashClients
    from app.secrets import AppSecrets
    from app.signature import SignatureVerifier

T = TypeVar("T")


class Resources:
    def __init__(self, settings: Settings, plan: Plan) -> None:
        self.settings = settings
        self.plan = plan
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()  # a client may need another one (the secrets) while it is built

    def _once(self, name: str, build: Callable[[], T]) -> T:
        if name not in self._built:
            with self._lock:
                if name not in self._built:
                    self._built[name] = build()
        value: T = self._built[name]
        return value

    @property
    def aws(self) -> AwsClients:
        """The credentials and one connection pool for S3 and every secret (app/aws.py), made by their first call."""
        from app.aws import AwsClients

        return self._once("aws", AwsClients)

    def _aws(self) -> AwsClients:
        return self.aws

    @property
    def db_credentials(self) -> DatabaseCredentials:
        """One reader of the database secret for both pools: one GetSecretValue per container, not one per pool."""
        from app.db import database_credentials

        return self._once("db_credentials", lambda: database_credentials(self.settings, self._aws))

    @property
    def pool(self) -> ConnectionPool:
        def build() -> ConnectionPool:
            from app.db import create_pool

            credentials = self.db_credentials
            pool = create_pool(self.settings, database=self.plan.database, credentials=credentials)
            pool.open(wait=False)
            return pool

        return self._once("pool", build)

    @property
    def ledger_pool(self) -> ConnectionPool:
        """Connections of the AI spend ledger (app/spend_guard.py), which commits while the job's transaction is
        open on `pool`: opened by the process's first model call, none kept open by a process that makes none."""

        def build() -> ConnectionPool:
            from app.db import create_pool

            settings = self.settings.model_copy(update={"database_pool_min_size": 0})
            pool = create_pool(settings, database=self.plan.database, credentials=self.db_credentials)
            pool.open(wait=False)
            return pool

        return self._once("ledger_pool", build)

    @property
    def secrets(self) -> AppSecrets:
        # Nothing is read here: each secret is read by the first request that needs it (app/secrets.py).
        from app.secrets import AppSecrets

        interval = self.plan.secrets.reread_min_interval_seconds
        return self._once(
            "secrets", lambda: AppSecrets(self.settings, reread_min_interval_seconds=interval, aws=self._aws)
        )

    @property
    def redis(self) -> redis.Redis:
        def build() -> redis.Redis:
            from app.cache import create_redis
            from app.secrets import cache_token_reader

            interval = self.plan.secrets.reread_min_interval_seconds
            reader = cache_token_reader(self.settings, reread_min_interval_seconds=interval, aws=self._aws)
            return create_redis(self.settings, reader)

        return self._once("redis", build)

    @property
    def s3(self) -> S3Client:
        from app.storage import create_s3

        return self._once("s3", lambda: create_s3(self.settings, aws=self.aws))

    @property
    def ai(self) -> AIService:
        from app.ai import AIService, create_ai_client

        return self._once("ai", lambda: AIService(create_ai_client(self.settings, self.secrets), self.secrets))

    @property
    def qstash_clients(self) -> QStashClients:
        from app.publisher import QStashClients

        return self._once("qstash_clients", lambda: QStashClients(self.settings, self.secrets))

    @property
    def qstash(self) -> QStash:
        """The client for the current token; `qstash_clients.call` also retries once after a rotation."""
        return self.qstash_clients.client()

    @property
    def verifier(self) -> SignatureVerifier:
        def build() -> SignatureVerifier:
            from app.signature import SignatureVerifier

            tolerance = self.plan.qstash.signature_clock_tolerance_seconds
            return SignatureVerifier(self.settings, clock_tolerance_seconds=tolerance, secrets=self.secrets)

        return self._once("verifier", build)

    def close(self) -> None:
        """Closes the clients that were built (nothing is imported or opened to close the others)."""
        with self._lock:
            built, self._built = self._built, {}
        for name in ("pool", "ledger_pool", "redis", "ai"):
            if name in built:
                built[name].close()


def build_resources(settings: Settings, plan: Plan) -> Resources:
    return Resources(settings, plan)


class LazyResources:
    """The process's one Resources; `close()` ends it (the next `get()` starts afresh)."""

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
