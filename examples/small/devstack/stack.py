"""The whole local stack on 127.0.0.1, for `make dev` and the tour: real PostgreSQL (migrated) and Redis,
moto's S3 (bucket created), the QStash stand-in delivering signed messages, the Azure AI stand-in, a
webhook sink for outgoing notifications, and the app under uvicorn configured to use all of them.

Child processes are started before any thread and die with this process (see `devstack.processes`);
`stop()` shuts everything down newest first and is safe to call twice.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack.app_server import PROJECT_DIR, AppProcess
from devstack.azure_ai import AzureAIStandIn, Latency
from devstack.http_standin import JsonHandler, LoopbackServer
from devstack.moto_s3 import MotoProcess
from devstack.qstash_server import Attempt, QStashStandIn
from devstack.redis import RedisServer, start_redis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from devstack.postgres import PostgresServer, start_postgres

# Development-only credentials: the stand-ins accept exactly these; nothing real ever sees them.
QSTASH_TOKEN = "devstack-qstash-token"
CURRENT_SIGNING_KEY = "sig_devstack_current_0123456789abcdef"
NEXT_SIGNING_KEY = "sig_devstack_next_fedcba9876543210"
AZURE_OPENAI_KEY = "devstack-azure-key"
BUCKET = "devstack-bucket"
# Connections and delivery threads beyond the workers' flow-control parallelism: /health and the failure callback
# take connections too, and notifications and failure callbacks are delivered outside the workers' key.
HEADROOM = 5

# DEVSTACK_STATE_DIR moves it (the tests run a second `make dev` without touching yours).
STATE_DIR = Path(os.environ.get("DEVSTACK_STATE_DIR") or Path(__file__).resolve().parent / ".state")
ENV_FILE = STATE_DIR / "dev.env"


@dataclass(frozen=True)
class Notification:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookSink(LoopbackServer):
    """Accepts any POST and keeps it: where alert notifications land locally (`<url>/hooks/<name>`)."""

    def __init__(self) -> None:
        super().__init__(_SinkHandler)
        self.received: list[Notification] = []
        self.lock = threading.Lock()


class _SinkHandler(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.read_body()
        sink: WebhookSink = self.server.standin  # type: ignore[attr-defined]
        with sink.lock:
            sink.received.append(Notification(self.path, dict(self.headers.items()), body))
        self.send_json(200, {"ok": True})


def load_plan_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PROJECT_DIR / "app" / "plan.json").read_text())
    return data


@dataclass
class LocalStack:
    """Starts in `start()`; `env` is what the app (and a user's shell) needs to talk to it."""

    backoff_scale: float = 0.01
    app_log: Path | None = None
    quiet_app: bool = True
    progress: Callable[[str], None] = print
    on_attempt: Callable[[Attempt], None] | None = None
    # The model's answer time in the Azure AI stand-in (None: at once); the capacity benchmark sets the plan's.
    azure_latency: Latency | None = None
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    moto: MotoProcess | None = None
    azure: AzureAIStandIn | None = None
    qstash: QStashStandIn | None = None
    sink: WebhookSink | None = None
    app: AppProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    # QSTASH_* values that replace the stand-in's for the app (e.g. Upstash's `qstash-cli dev` server).
    qstash_override: dict[str, str] = field(default_factory=dict)
    _threads_started: list[LoopbackServer] = field(default_factory=list)
    _parallelism: int = 1

    def start(self) -> LocalStack:
        started = time.monotonic()
        # Processes first (each asks to die with us, which must be armed before any thread runs).
        self.postgres = start_postgres()
        self.progress(f"postgres   {self.postgres.url}")
        self.redis = start_redis()
        self.progress(f"redis      redis://127.0.0.1:{self.redis.port}/0 (password required: REDIS_URL carries it)")
        self.moto = MotoProcess().start()
        self.progress(f"s3 (moto)  {self.moto.url}")
        from app.ai import deployments
        from app.plan import load_plan
        from app.settings import DEFAULT_PLAN_PATH

        plan = load_plan(DEFAULT_PLAN_PATH)
        # The resource has exactly the plan's models as deployments, as QUICK-START.md asks for.
        self.azure = AzureAIStandIn(
            api_key=AZURE_OPENAI_KEY, deployments=set(deployments(plan)), latency=self.azure_latency
        )
        self._parallelism = plan.qstash.flow_control.parallelism
        self.qstash = QStashStandIn(
            QSTASH_TOKEN,
            signing_key=CURRENT_SIGNING_KEY,
            keys=(CURRENT_SIGNING_KEY, NEXT_SIGNING_KEY),
            backoff_scale=self.backoff_scale,
            delivery_workers=self._parallelism + HEADROOM,
            on_attempt=self.on_attempt,
        )
        self.sink = WebhookSink()
        self.app = AppProcess(env={}, log_path=self.app_log, quiet=self.quiet_app)
        self.env = self._app_env()
        self.app.env = self.env

        from app.migrate import apply_migrations

        applied = apply_migrations(self.postgres.url)
        self.progress(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
        self._create_bucket()
        self.app.start()
        for server in (self.azure, self.qstash, self.sink):
            server.start()
            self._threads_started.append(server)
        self.progress(f"qstash     {self.qstash.url} (stand-in; delivers signed messages)")
        self.progress(f"azure ai   {self.azure.base_url} (stand-in, OpenAI v1 wire format)")
        self._wait_healthy()
        self.progress(f"app        {self.app.url} (uvicorn app.main:app, /health ok)")
        self.progress(f"stack up in {time.monotonic() - started:.1f} s")
        return self

    def stop(self) -> None:
        for server in reversed(self._threads_started):
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                self.progress(f"warning: stopping {type(server).__name__}: {exc}")
        self._threads_started.clear()
        for name in ("app", "moto", "redis", "postgres"):
            process = getattr(self, name)
            if process is not None:
                try:
                    process.stop()
                except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                    self.progress(f"warning: stopping {name}: {exc}")
                setattr(self, name, None)

    def restart_app(self, **extra_env: str) -> None:
        """Stops the app and starts it again on the same port with `extra_env` over the stack's variables (the
        tour's tiny AI budget), as a new deploy of the function would; waits until it is healthy."""
        assert self.app is not None
        self.app.stop()
        self.app.env = {**self.env, **extra_env}
        self.app.start()
        self._wait_healthy()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def parallelism(self) -> int:
        """The workers' flow-control parallelism from the plan: deliveries in flight at once."""
        return self._parallelism

    @property
    def app_url(self) -> str:
        assert self.app is not None
        return self.app.url

    def route_url(self, route: str) -> str:
        return self.app_url + route

    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.env["S3_ENDPOINT_URL"],
            region_name=self.env["AWS_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def write_env_file(self, path: Path = ENV_FILE) -> Path:
        """KEY=value lines a shell can `source` (and `devstack.send` reads)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{key}={value}\n" for key, value in self.env.items()))
        return path

    def _app_env(self) -> dict[str, str]:
        assert self.postgres is not None
        assert self.redis is not None
        assert self.moto is not None
        assert self.azure is not None
        assert self.qstash is not None
        assert self.sink is not None
        assert self.app is not None
        return {
            "APP_ENV": "development",
            "PUBLIC_BASE_URL": self.app.url,
            "DATABASE_URL": self.postgres.url,
            # One process serves what on AWS are `parallelism` Lambda instances with a connection each.
            "DATABASE_POOL_MAX_SIZE": str(self._parallelism + HEADROOM),
            "REDIS_URL": self.redis.url,
            "S3_BUCKET": BUCKET,
            "AWS_REGION": "us-east-1",
            "S3_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "QSTASH_URL": self.qstash.url,
            "QSTASH_TOKEN": QSTASH_TOKEN,
            "QSTASH_CURRENT_SIGNING_KEY": CURRENT_SIGNING_KEY,
            "QSTASH_NEXT_SIGNING_KEY": NEXT_SIGNING_KEY,
            "AZURE_OPENAI_BASE_URL": self.azure.base_url,
            "AZURE_OPENAI_API_KEY": AZURE_OPENAI_KEY,
            "AZURE_OPENAI_MAX_RETRIES": "0",
            "LOG_LEVEL": "WARNING" if self.quiet_app else "INFO",
            "WEBHOOK_SINK_URL": self.sink.url,
            **self.qstash_override,
        }

    def _create_bucket(self) -> None:
        self.s3_client().create_bucket(Bucket=BUCKET)
        self.progress(f"bucket     s3://{BUCKET}")

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                response = httpx.get(self.app_url + "/health", timeout=5)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise RuntimeError(f"the app is not healthy after {timeout} s: {last}")
