"""Tasks the cron Lambda runs inside the VPC: `migrate` (invoked by deploy.sh) and `maintenance` (EventBridge).

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


TASKS = {"migrate": migrate, "maintenance": maintenance}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from app.logs import configure_logging

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    task = str(event.get("task", "maintenance"))
    if task not in TASKS:
        return {"ok": False, "error": f"unknown task {task!r}"}
    logger.info("task %s", task)
    return TASKS[task]()
