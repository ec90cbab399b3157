"""Tasks the cron Lambda runs inside the VPC: `migrate` (invoked by deploy.sh), `spend` (the AI spend ledger, for
`make spend` and verify.sh) and `maintenance` (EventBridge).

The deploying machine cannot reach the private database, so migrations run here, from the same package
as the workers being released.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)


def migrate() -> dict[str, Any]:
    from app.db_credentials import DatabaseCredentials
    from app.migrate import apply_migrations

    # The same path as the workers: the stack's DATABASE_URL (no password) with the user and password of
    # the secret RDS manages, read now (so a rotation since the last deploy does not matter).
    credentials = DatabaseCredentials(os.environ["DATABASE_URL"], os.environ.get("DATABASE_SECRET_ARN", ""))
    applied = credentials.connect(apply_migrations)
    return {"ok": True, "applied": applied}


def spend() -> dict[str, Any]:
    """The AI spend ledger's month to date, per worker and model (ops/spend.py prints it against the plan)."""
    import psycopg

    from app.db_credentials import DatabaseCredentials
    from app.spend_guard import month_to_date

    def read(conninfo: str) -> list[dict[str, Any]]:
        with psycopg.connect(conninfo) as conn:
            return [
                {
                    "worker": row.worker,
                    "model": row.model,
                    "calls": row.calls,
                    "input_tokens": row.input_tokens,
                    "output_tokens": row.output_tokens,
                    "usd": str(row.usd),  # exact: the report adds it up as a Decimal
                }
                for row in month_to_date(conn)
            ]

    credentials = DatabaseCredentials(os.environ["DATABASE_URL"], os.environ.get("DATABASE_SECRET_ARN", ""))
    return {"ok": True, "rows": credentials.connect(read)}


def maintenance() -> dict[str, Any]:
    """A heartbeat of the dependencies; its failures show in the Lambda error alarm."""
    from app.health import check_health
    from app.plan import load_plan
    from app.resources import build_resources
    from app.settings import get_settings

    settings = get_settings()
    resources = build_resources(settings, load_plan(settings.plan_path))
    try:
        ok, report = check_health(resources)
    finally:
        resources.close()
    if not ok:
        raise RuntimeError(f"dependencies unhealthy: {report}")
    return {"ok": True, "health": report}


def replay_deferred() -> dict[str, Any]:
    """`python -m app.deferred --replay` inside the VPC: the jobs the AI spend guard deferred, published again once
    (its lines go to the function's log; README.md, "Azure AI spend guard", says when to run it)."""
    from app.deferred import main

    code = main(["--replay"])
    return {"ok": code == 0, "exit_code": code}


TASKS = {"migrate": migrate, "spend": spend, "replay_deferred": replay_deferred, "maintenance": maintenance}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from app.logs import configure_logging

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    task = str(event.get("task", "maintenance"))
    if task not in TASKS:
        return {"ok": False, "error": f"unknown task {task!r}"}
    logger.info("task %s", task)
    return TASKS[task]()
