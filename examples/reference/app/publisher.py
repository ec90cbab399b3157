"""QStash API client for outgoing messages and schedules, and the flow control every message to the workers carries.

Flow control bounds the deliveries in flight under one key, whatever the URL ("Flow Control",
https://upstash.com/docs/qstash/features/flowcontrol, read 2026-11-25: headers `Upstash-Flow-Control-Key`
and `Upstash-Flow-Control-Value: parallelism=N`; the limit is per key, not per URL; messages over it wait,
they are not rejected). Every schedule and message to a worker carries the plan's key and parallelism (the
workers' reserved concurrency), so concurrency and database connections stay bounded even when the account
cannot reserve concurrency for the function.
"""

from __future__ import annotations

from typing import Any

from qstash import QStash
from qstash.message import FlowControl

from app.plan import Plan
from app.settings import Settings


def create_qstash(settings: Settings) -> QStash:
    # The SDK's own retry loop would hide failures inside a job; the job's retry is QStash's delivery retry.
    return QStash(
        settings.qstash_token.get_secret_value(),
        retry=False,
        base_url=settings.qstash_url,
    )


def worker_flow_control(plan: Plan) -> FlowControl:
    return {"key": plan.qstash.flow_control.key, "parallelism": plan.qstash.flow_control.parallelism}


def publish_to_worker(
    client: QStash,
    plan: Plan,
    public_base_url: str,
    route: str,
    body: Any,
    *,
    deduplication_id: str | None = None,
) -> str:
    """Publishes one job to a worker route with the plan's retries, timeout, failure callback and flow control;
    returns the message id (the same id again for a deduplicated publish)."""
    base = public_base_url.rstrip("/")
    published: Any = client.message.publish_json(
        url=f"{base}{route}",
        body=body,
        retries=plan.qstash.retries,
        timeout=plan.qstash.timeout_seconds,
        failure_callback=f"{base}{plan.qstash.failure_callback_route}",
        deduplication_id=deduplication_id,
        flow_control=worker_flow_control(plan),
    )
    return str(published.message_id)
