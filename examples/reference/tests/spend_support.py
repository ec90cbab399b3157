"""What the spend guard's tests share: the ledger seeded and recomputed, and the deduplication id of a message."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg

from app.plan import Plan
from app.spend_guard import call_cost
from devstack.qstash_server import PublishedMessage
from tests.helpers import rows


def seed_spent(conn: psycopg.Connection, month: date, spent: Decimal) -> None:
    conn.execute(
        "INSERT INTO spend_ledger (month, spent_usd) VALUES (%s, %s)"
        " ON CONFLICT (month) DO UPDATE SET spent_usd = EXCLUDED.spent_usd",
        (month, spent),
    )


def settled_cost(conn: psycopg.Connection, plan: Plan) -> Decimal:
    """What the recorded usage costs at the plan's prices, recomputed from the tokens."""
    total = Decimal(0)
    for model, prompt, completion in rows(conn, "SELECT model, prompt_tokens, completion_tokens FROM ai_usage"):
        total += call_cost(plan.spend_guard.models[model], prompt, completion)
    return total


def dedupe_id(message: PublishedMessage) -> str:
    return next(value for name, value in message.headers.items() if name.lower() == "upstash-deduplication-id")
