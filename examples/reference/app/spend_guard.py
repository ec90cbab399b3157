"""The AI spend guard: every model call fits the month's AI budget, or is not made.

Azure pay-as-you-go has no spending cap: "When the budget thresholds you've created are exceeded, only notifications
are triggered. None of your resources are affected, and your consumption isn't stopped" ("Tutorial: Create and
manage budgets", https://learn.microsoft.com/en-us/azure/cost-management-billing/costs/tutorial-acm-create-budgets,
read 2026-11-25). So the cap is kept here, in PostgreSQL:
- Before a call, its worst case (the prompt's tokens as sent, the worker's output cap from the plan, at the plan's
  prices for the model) is reserved on the month's `spend_ledger` row by one `UPDATE ... WHERE spent + reserved +
  worst <= cap RETURNING`. The row lock serialises concurrent reservations and the condition is checked again
  on the locked row, so however many Lambdas race at the edge, what is spent and in flight never passes the cap
  (in Read Committed, an UPDATE that waited for a row "will re-evaluate its WHERE clause on the updated version
  of the row": "Transaction Isolation", https://www.postgresql.org/docs/current/transaction-iso.html, read
  2026-11-25). The ledger commits on connections of its own (`Resources.ledger_pool`): the job's transaction
  holds the job's connection meanwhile, so a worker that calls a model holds a second, short-lived connection.
- When the model answers, the reservation is settled to the call's real cost, and its usage row (`ai_usage`) and
  its answer (`model_calls`) are committed at once in a short transaction of their own: a crash later in the
  job loses no spend, and the job's retry finds the answer and does not pay for it again.
- A call that failed is released (nothing was billed). A reservation whose runner died before settling (found by
  the message's retry, or older than QStash's timeout) is counted at its worst case: it may have been billed.
- When no call fits, `BudgetExhaustedError` ends the job `budget_exhausted` (answered 489: QStash does not retry
  it) and app/deferred.py keeps it for `python -m app.deferred --replay`.
- Each threshold of the plan (`spend_guard.alert_thresholds_pct`) raises one alert per month: a `spend_alerts`
  row (its primary key makes it once, across concurrent jobs and restarts), a WARNING log line, and, with
  BUDGET_ALERT_WEBHOOK_URL set, a QStash message to that URL with a deduplication id. The guard refusing a call
  counts as 100%. Thresholds above 100% are for AWS Budgets only: the guard stops at the cap.

The cap is the plan's `ai_budget`; AI_MONTHLY_CAP_USD may lower it, never raise it (raising it means answering
`ai_budget` again, which prices the plan again).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool

from app.errors import BudgetExhaustedError
from app.plan import ModelPrices, Plan, WorkerPlan
from app.prompt_budget import token_ceiling
from app.prompts import ChatMessage, Completion

if TYPE_CHECKING:
    from app.resources import Resources

log = logging.getLogger(__name__)

_MILLION = Decimal(1_000_000)
_HUNDRED = Decimal(100)

# Publishes an alert (body, deduplication id) to the alert webhook; returns QStash's message id.
Notify = Callable[[dict[str, Any], str], str]


@dataclass
class SpendRow:
    """Month-to-date AI spend of one worker on one model (calls that answered, and reservations counted at their
    worst case because their runner died before settling)."""

    worker: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    usd: Decimal


@dataclass(frozen=True)
class LedgerState:
    month: date
    cap_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal

    @property
    def used_pct(self) -> Decimal:
        """Settled spend as a percentage of the cap (100 when the cap is 0: nothing may be spent)."""
        return _HUNDRED if self.cap_usd <= 0 else self.spent_usd * _HUNDRED / self.cap_usd

    @property
    def left_usd(self) -> Decimal:
        return max(Decimal(0), self.cap_usd - self.spent_usd - self.reserved_usd)


def month_of(moment: datetime) -> date:
    """The ledger month of an instant: calendar months in UTC."""
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def current_month() -> date:
    return month_of(datetime.now(UTC))


@lru_cache(maxsize=8)
def effective_cap(plan_cap: Decimal, override: Decimal | None) -> Decimal:
    """The plan's cap, or a lower AI_MONTHLY_CAP_USD. A higher one is ignored with one WARNING (per process)."""
    if override is None or override == plan_cap:
        return plan_cap
    if override > plan_cap:
        log.warning(
            "AI_MONTHLY_CAP_USD %s is above the plan's AI budget of %s: using the plan's. To raise the budget,"
            " answer ai_budget again (betagen update . --set ai_budget=...), which prices the plan again",
            override,
            plan_cap,
        )
        return plan_cap
    return override


def call_cost(prices: ModelPrices, input_tokens: int, output_tokens: int) -> Decimal:
    return (input_tokens * prices.input_usd_per_1m + output_tokens * prices.output_usd_per_1m) / _MILLION


def smallest_call_usd(plan: Plan) -> Decimal:
    """Less than any model call of the plan can reserve (its output cap alone, no input): a budget with less
    left than this cannot make any call."""
    costs = [
        call_cost(plan.spend_guard.models[w.model], 0, w.limits.max_output_tokens)
        for w in plan.workers
        if w.model and w.limits.max_output_tokens
    ]
    return min(costs, default=Decimal(0))


def worst_case_input_tokens(messages: list[ChatMessage], max_input_tokens: int) -> int:
    """The most input tokens these messages can be billed as: their text's bound (app/prompt_budget.py), or the
    worker's whole input cap when they hold an image (the model counts images by its own rule; the plan's cap
    leaves room for the largest one)."""
    if any(isinstance(message.get("content"), list) and _has_image(message) for message in messages):
        return max_input_tokens
    return token_ceiling(messages)


def _has_image(message: ChatMessage) -> bool:
    content: Any = message.get("content")
    return any(isinstance(part, dict) and part.get("type") != "text" for part in content)


def prompt_digest(model: str, messages: list[ChatMessage], max_tokens: int) -> str:
    """Identifies a prompt across a job's retries: image URLs count without their query string, so the same
    object behind a freshly signed URL is the same prompt."""

    def stable(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v.split("?", 1)[0] if k == "url" and isinstance(v, str) else stable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stable(item) for item in value]
        return value

    text = json.dumps([model, max_tokens, stable(messages)], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


class SpendGuard:
    def __init__(
        self,
        pool: ConnectionPool,
        plan: Plan,
        *,
        cap_override: Decimal | None = None,
        notify: Notify | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._plan = plan
        self.cap_usd = effective_cap(plan.spend_guard.monthly_cap_usd, cap_override)
        self._notify = notify
        self._clock = clock

    def call(
        self,
        *,
        message_id: str,
        seq: int,
        worker: WorkerPlan,
        messages: list[ChatMessage],
        call: Callable[[], Completion],
    ) -> Completion:
        """The completion of `call()` within the budget. `seq` is the call's place in its job (0, 1, ...): with
        the prompt, it finds the answer an earlier run of the same message already paid for."""
        model, limits = worker.model, worker.limits
        if not model or limits.max_input_tokens is None or limits.max_output_tokens is None:
            raise ValueError(f"worker {worker.name} has no model or token caps in the plan")
        digest = prompt_digest(model, messages, limits.max_output_tokens)
        stored = self._stored_answer(message_id, seq, digest, model)
        if stored is not None:
            return stored
        prices = self._plan.spend_guard.models[model]
        worst = call_cost(prices, worst_case_input_tokens(messages, limits.max_input_tokens), limits.max_output_tokens)
        month = month_of(self._clock())
        call_id = self._reserve(
            month, worst, message_id=message_id, seq=seq, digest=digest, worker=worker.name, model=model
        )
        try:
            completion = call()
        except BaseException:
            self._release(call_id)
            raise
        cost = call_cost(prices, completion.prompt_tokens, completion.completion_tokens)
        self._settle(call_id, month, completion, cost)
        return completion

    def state(self, month: date | None = None) -> LedgerState:
        with self._pool.connection() as conn:
            return ledger_state(conn, self.cap_usd, month or month_of(self._clock()))

    # -- the ledger ----------------------------------------------------------------------------------------

    def _stored_answer(self, message_id: str, seq: int, digest: str, model: str) -> Completion | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT answer, prompt_tokens, completion_tokens FROM model_calls"
                " WHERE message_id = %s AND seq = %s AND prompt_sha256 = %s AND state = 'answered'",
                (message_id, seq, digest),
            ).fetchone()
        if row is None:
            return None
        return Completion(model=model, text=str(row[0]), prompt_tokens=int(row[1]), completion_tokens=int(row[2]))

    def _reserve(
        self, month: date, worst: Decimal, *, message_id: str, seq: int, digest: str, worker: str, model: str
    ) -> int:
        with self._pool.connection() as conn:
            with conn.transaction():
                self._expire_dead(conn, message_id, seq)
                conn.execute("INSERT INTO spend_ledger (month) VALUES (%s) ON CONFLICT (month) DO NOTHING", (month,))
                reserved = conn.execute(
                    "UPDATE spend_ledger SET reserved_usd = reserved_usd + %(worst)s, updated_at = now()"
                    " WHERE month = %(month)s AND spent_usd + reserved_usd + %(worst)s <= %(cap)s RETURNING month",
                    {"worst": worst, "month": month, "cap": self.cap_usd},
                ).fetchone()
                if reserved is not None:
                    row = conn.execute(
                        "INSERT INTO model_calls (message_id, seq, prompt_sha256, worker, model, month, state,"
                        " reserved_usd) VALUES (%s, %s, %s, %s, %s, %s, 'reserved', %s) RETURNING id",
                        (message_id, seq, digest, worker, model, month, worst),
                    ).fetchone()
                    assert row is not None
                    return int(row[0])
                state = ledger_state(conn, self.cap_usd, month)
                raised = self._record_alerts(conn, state, refused=True)
            self._announce(conn, state, raised)
        log.warning(
            "AI budget exhausted for %s: %s spent and %s in flight of the %s cap; a %s call of %s needs up to %s."
            " The job is deferred: `python -m app.deferred --replay` runs it once the budget allows",
            f"{month:%Y-%m}",
            usd_text(state.spent_usd),
            usd_text(state.reserved_usd),
            usd_text(state.cap_usd),
            model,
            worker,
            usd_text(worst),
        )
        raise BudgetExhaustedError(
            f"AI budget exhausted for {month:%Y-%m}: {usd_text(state.spent_usd)} spent of the"
            f" {usd_text(state.cap_usd)} cap, {usd_text(state.left_usd)} left; this {model} call needs up to"
            f" {usd_text(worst)}"
        )

    def _expire_dead(self, conn: psycopg.Connection, message_id: str, seq: int) -> None:
        """Counts reservations whose runner died at their worst case: this message's earlier run of the same call
        (the job lock says its runner is gone) and any older than QStash's timeout (no delivery lives longer)."""
        dead = conn.execute(
            "WITH dead AS (UPDATE model_calls SET state = 'expired', usd = reserved_usd, settled_at = now()"
            " WHERE id IN (SELECT id FROM model_calls WHERE state = 'reserved' AND ((message_id = %s AND seq = %s)"
            " OR reserved_at < now() - make_interval(secs => %s)) FOR UPDATE SKIP LOCKED)"
            " RETURNING month, reserved_usd)"
            " SELECT month, sum(reserved_usd) FROM dead GROUP BY month ORDER BY month",
            (message_id, seq, self._plan.qstash.timeout_seconds),
        ).fetchall()
        for month, amount in dead:  # ascending months: every session locks ledger rows in the same order
            conn.execute(
                "UPDATE spend_ledger SET spent_usd = spent_usd + %s, reserved_usd = reserved_usd - %s,"
                " updated_at = now() WHERE month = %s",
                (amount, amount, month),
            )

    def _release(self, call_id: int) -> None:
        try:
            with self._pool.connection() as conn, conn.transaction():
                row = conn.execute(
                    "UPDATE model_calls SET state = 'released', usd = 0, settled_at = now()"
                    " WHERE id = %s AND state = 'reserved' RETURNING month, reserved_usd",
                    (call_id,),
                ).fetchone()
                if row is not None:
                    conn.execute(
                        "UPDATE spend_ledger SET reserved_usd = reserved_usd - %s, updated_at = now() WHERE month = %s",
                        (row[1], row[0]),
                    )
        except Exception:  # the call's own error is what the job reports; the stale reservation expires later
            log.exception("could not release the reservation of model call %s", call_id)

    def _settle(self, call_id: int, month: date, completion: Completion, usd: Decimal) -> None:
        with self._pool.connection() as conn:
            with conn.transaction():
                before = conn.execute(
                    "WITH old AS (SELECT id, state, reserved_usd FROM model_calls WHERE id = %s FOR UPDATE)"
                    " UPDATE model_calls AS m SET state = 'answered', usd = %s, answer = %s, prompt_tokens = %s,"
                    " completion_tokens = %s, settled_at = now() FROM old WHERE m.id = old.id"
                    " RETURNING old.state, old.reserved_usd, m.message_id, m.worker, m.model",
                    (call_id, usd, completion.text, completion.prompt_tokens, completion.completion_tokens),
                ).fetchone()
                assert before is not None
                old_state, reserved, message_id, worker, model = before
                # Expired meanwhile (counted at its worst case): only the difference is left to settle.
                held = reserved if old_state == "reserved" else Decimal(0)
                spent = usd if old_state == "reserved" else usd - reserved
                conn.execute(
                    "UPDATE spend_ledger SET spent_usd = spent_usd + %s, reserved_usd = reserved_usd - %s,"
                    " updated_at = now() WHERE month = %s",
                    (spent, held, month),
                )
                conn.execute(
                    "INSERT INTO ai_usage (message_id, worker, model, prompt_tokens, completion_tokens, usd)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (message_id, worker, model, completion.prompt_tokens, completion.completion_tokens, usd),
                )
                state = ledger_state(conn, self.cap_usd, month)
                raised = self._record_alerts(conn, state, refused=False)
            self._announce(conn, state, raised)

    # -- alerts --------------------------------------------------------------------------------------------

    def _record_alerts(self, conn: psycopg.Connection, state: LedgerState, *, refused: bool) -> list[int]:
        """The thresholds this state crosses for the first time this month (their rows written here)."""
        level = max(state.used_pct, _HUNDRED) if refused else state.used_pct
        crossed = [pct for pct in self._plan.spend_guard.alert_thresholds_pct if pct <= level and pct <= 100]
        if not crossed:
            return []
        rows = conn.execute(
            "INSERT INTO spend_alerts (month, threshold_pct, spent_usd, cap_usd)"
            " SELECT %s, pct, %s, %s FROM unnest(%s::integer[]) AS pct"
            " ON CONFLICT (month, threshold_pct) DO NOTHING RETURNING threshold_pct",
            (state.month, state.spent_usd, state.cap_usd, crossed),
        ).fetchall()
        return sorted(int(row[0]) for row in rows)

    def _announce(self, conn: psycopg.Connection, state: LedgerState, raised: list[int]) -> None:
        """After the alert rows committed: the log line of each new one, then the notifications not sent yet."""
        for pct in raised:
            log.warning(
                "AI spend alert: %s%% of the %s monthly AI budget reached for %s (%s spent)",
                pct,
                usd_text(state.cap_usd),
                f"{state.month:%Y-%m}",
                usd_text(state.spent_usd),
            )
        if self._notify is None:
            return
        pending = conn.execute(
            "SELECT threshold_pct, spent_usd, cap_usd FROM spend_alerts WHERE month = %s AND notify_message_id IS NULL"
            " ORDER BY threshold_pct",
            (state.month,),
        ).fetchall()
        for pct, spent, cap in pending:
            body = {
                "project": self._plan.project.slug,
                "kind": "ai_budget",
                "month": f"{state.month:%Y-%m}",
                "threshold_pct": int(pct),
                "spent_usd": str(spent),
                "cap_usd": str(cap),
            }
            try:
                message_id = self._notify(body, alert_dedupe_id(self._plan.project.slug, state.month, int(pct)))
            except Exception as exc:  # noqa: BLE001 - the next settled call tries again, with the same deduplication id
                log.warning("AI spend alert %s%% not sent to the alert webhook: %s", pct, type(exc).__name__)
                continue
            conn.execute(
                "UPDATE spend_alerts SET notify_message_id = %s WHERE month = %s AND threshold_pct = %s",
                (message_id, state.month, pct),
            )


def alert_dedupe_id(slug: str, month: date, pct: int) -> str:
    """One id per project, month and threshold: QStash drops a second publish of it (a concurrent job or a
    retried notification), "Deduplication", https://upstash.com/docs/qstash/features/deduplication (read
    2026-11-25)."""
    return f"{slug}-ai-budget-{month:%Y-%m}-{pct}"


def ledger_state(conn: psycopg.Connection, cap_usd: Decimal, month: date) -> LedgerState:
    row = conn.execute("SELECT spent_usd, reserved_usd FROM spend_ledger WHERE month = %s", (month,)).fetchone()
    spent, reserved = (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))
    return LedgerState(month=month, cap_usd=cap_usd, spent_usd=spent, reserved_usd=reserved)


def month_to_date(conn: psycopg.Connection, month: date | None = None) -> list[SpendRow]:
    """AI spend of a month (default: the current one, UTC) per worker and model, from the ledger's calls."""
    rows = conn.execute(
        "SELECT worker, model, count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
        " coalesce(sum(usd), 0) FROM model_calls WHERE month = %s AND state IN ('answered', 'expired')"
        " GROUP BY worker, model ORDER BY worker, model",
        (date(month.year, month.month, 1) if month else current_month(),),
    ).fetchall()
    return [
        SpendRow(
            worker=str(worker),
            model=str(model),
            calls=int(calls),
            input_tokens=int(prompt),
            output_tokens=int(completion),
            usd=Decimal(usd),
        )
        for worker, model, calls, prompt, completion, usd in rows
    ]


def guard_for(resources: Resources) -> SpendGuard:
    """The guard of this process's settings and plan; alerts go to BUDGET_ALERT_WEBHOOK_URL when it is set."""
    settings, plan = resources.settings, resources.plan
    webhook = settings.budget_alert_webhook_url
    notify: Notify | None = None
    if webhook:

        def notify(body: dict[str, Any], deduplication_id: str) -> str:
            published: Any = resources.qstash_clients.call(
                lambda client: client.message.publish_json(
                    url=webhook, body=body, retries=plan.qstash.retries, deduplication_id=deduplication_id
                )
            )
            return str(published.message_id)

    return SpendGuard(resources.ledger_pool, plan, cap_override=settings.ai_monthly_cap_usd, notify=notify)


def usd_text(value: Decimal) -> str:
    """Dollars as the guard's messages show them: cents from $1 up, millionths below (a call costs less)."""
    return f"${value:,.6f}" if value < 1 else f"${value:,.2f}"
