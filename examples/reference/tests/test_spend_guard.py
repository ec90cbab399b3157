"""The AI spend guard (app/spend_guard.py) against real PostgreSQL, the Azure AI stand-in and the QStash stand-in:
the cap holds under concurrency, the exhausted budget makes no call and answers 489, each threshold alerts once
a month, a crash keeps the spend and its retry does not pay again, a new month starts afresh, and deferred jobs
are replayed once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from app.ai import AIService
from app.db import create_pool
from app.errors import BudgetExhaustedError
from app.plan import Plan, WorkerPlan
from app.prompts import Completion, text_prompt
from app.resources import Resources
from app.settings import Settings
from app.spend_guard import (
    SpendGuard,
    alert_dedupe_id,
    call_cost,
    current_month,
    effective_cap,
    guard_for,
    ledger_state,
    month_to_date,
    worst_case_input_tokens,
)
from tests.helpers import (
    Services,
    new_message_id,
    published_to,
    rows,
    scalar,
)
from tests.spend_support import dedupe_id, seed_spent, settled_cost

PROJECT_DIR = Path(__file__).resolve().parent.parent
WEBHOOK = "https://alerts.example.test/ai-budget"
RACERS = 16


def _text_worker(plan: Plan) -> WorkerPlan:
    # A text prompt: any model worker takes one (the multimodal model too); a text one when the plan has it.
    models = [w for w in plan.workers if w.model]
    if not models:
        pytest.skip("no worker of this plan calls a model")
    return next((w for w in models if w.model_use != "video"), models[0])


def _prompt(n: int) -> list[Any]:
    return text_prompt("Summarise the user's week in one sentence.", f"user u{n}: 3 views, 2 likes on tutorials")


def _worst(plan: Plan, worker: WorkerPlan, messages: list[Any]) -> Decimal:
    limits = worker.limits
    assert worker.model
    assert limits.max_input_tokens
    assert limits.max_output_tokens
    tokens = worst_case_input_tokens(messages, limits.max_input_tokens)
    return call_cost(plan.spend_guard.models[worker.model], tokens, limits.max_output_tokens)


@pytest.fixture
def pool(settings: Settings, plan: Plan) -> Iterator[ConnectionPool]:
    pool = create_pool(settings, database=plan.database)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


def _call(guard: SpendGuard, ai: AIService, worker: WorkerPlan, n: int, message_id: str | None = None) -> Completion:
    messages = _prompt(n)
    assert worker.model
    assert worker.limits.max_output_tokens
    model, max_tokens = worker.model, worker.limits.max_output_tokens
    return guard.call(
        message_id=message_id or new_message_id(),
        seq=0,
        worker=worker,
        messages=messages,
        call=lambda: ai.complete(model=model, messages=messages, max_tokens=max_tokens),
    )


def _race(count: int, action: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Runs `action(n)` for n in range(count) at once (started together); returns results and errors."""
    start = threading.Barrier(count)

    def run(n: int) -> Any:
        start.wait()
        return action(n)

    results: list[Any] = []
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=count) as executor:
        for future in [executor.submit(run, n) for n in range(count)]:
            try:
                results.append(future.result(timeout=60))
            except Exception as exc:  # noqa: BLE001 - each racer's error is a result to check
                errors.append(exc)
    return results, errors


def test_concurrent_calls_at_the_edge_never_pass_the_cap(
    pool: ConnectionPool, plan: Plan, ai: AIService, services: Services, db_conn: psycopg.Connection
) -> None:
    worker = _text_worker(plan)
    worst = _worst(plan, worker, _prompt(0))
    fits = 5
    cap = worst * fits + worst / 2  # room for five worst cases, not six
    guard = SpendGuard(pool, plan, cap_override=cap)
    # The model holds every answer until all racers have reserved or been refused: the reservations race.
    services.azure.hold_requests()
    releaser = threading.Timer(2.0, services.azure.release_requests)
    releaser.start()
    try:
        answered, refused = _race(RACERS, lambda n: _call(guard, ai, worker, n))
    finally:
        releaser.join()
    assert all(isinstance(error, BudgetExhaustedError) for error in refused), refused
    assert len(answered) == fits
    assert len(refused) == RACERS - fits
    assert len(services.azure.calls) == fits  # a refused call never reached the model
    state = ledger_state(db_conn, cap, current_month())
    assert state.reserved_usd == 0
    assert state.spent_usd == settled_cost(db_conn, plan)
    assert 0 < state.spent_usd <= cap  # within the cap, let alone one call's worst case past it
    assert scalar(db_conn, "SELECT count(*) FROM ai_usage") == fits


def test_the_env_cap_lowers_the_plan_cap_and_never_raises_it(
    pool: ConnectionPool, plan: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    plan_cap = plan.spend_guard.monthly_cap_usd
    lower, higher = plan_cap / 3, plan_cap * 2 + Decimal("0.17")
    with caplog.at_level(logging.WARNING, logger="app.spend_guard"):
        assert SpendGuard(pool, plan, cap_override=lower).cap_usd == lower
        assert SpendGuard(pool, plan, cap_override=higher).cap_usd == plan_cap
        assert SpendGuard(pool, plan, cap_override=higher).cap_usd == plan_cap
        assert SpendGuard(pool, plan).cap_usd == plan_cap
    warnings = [r.getMessage() for r in caplog.records if "AI_MONTHLY_CAP_USD" in r.getMessage()]
    assert len(warnings) == 1
    assert "ai_budget" in warnings[0]
    assert str(higher) in warnings[0]
    assert effective_cap(plan_cap, None) == plan_cap


def _alert_resources(settings: Settings, plan: Plan, cap: Decimal) -> Resources:
    configured = settings.model_copy(update={"budget_alert_webhook_url": WEBHOOK, "ai_monthly_cap_usd": cap})
    return Resources(configured, plan)


def _alert_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("AI spend alert:")]


def test_each_threshold_alerts_once_a_month_across_concurrent_jobs_and_restarts(
    settings: Settings,
    plan: Plan,
    ai: AIService,
    services: Services,
    db_conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = _text_worker(plan)
    thresholds = [pct for pct in plan.spend_guard.alert_thresholds_pct if pct <= 100]
    below_top = [pct for pct in thresholds if pct < 100]
    if not below_top:
        pytest.skip("the plan alerts at 100% only")
    worst = _worst(plan, worker, _prompt(0))
    cap = worst * 100
    month = current_month()
    # Just under the highest threshold below 100%: the racing calls cross it (and every one under it) together.
    top = Decimal(below_top[-1])
    seed_spent(db_conn, month, cap * top / 100 - worst / 1000)
    caplog.set_level(logging.WARNING, logger="app.spend_guard")

    first = _alert_resources(settings, plan, cap)
    try:
        answered, errors = _race(8, lambda n: _call(guard_for(first), ai, worker, n))
    finally:
        first.close()
    assert errors == []
    assert len(answered) == 8
    assert [r[0] for r in rows(db_conn, "SELECT threshold_pct FROM spend_alerts ORDER BY 1")] == below_top
    assert len(_alert_lines(caplog)) == len(below_top)

    # A new process (cold Lambda) makes more calls: nothing is raised or sent again.
    second = _alert_resources(settings, plan, cap)
    try:
        for n in range(3):
            _call(guard_for(second), ai, worker, 100 + n)
        # Then the budget runs out: racing refusals raise the 100% alert once.
        seed_spent(db_conn, month, cap)
        _, refused = _race(6, lambda n: _call(guard_for(second), ai, worker, 200 + n))
    finally:
        second.close()
    assert len(refused) == 6
    assert all(isinstance(e, BudgetExhaustedError) for e in refused)
    assert [r[0] for r in rows(db_conn, "SELECT threshold_pct FROM spend_alerts ORDER BY 1")] == thresholds
    assert len(_alert_lines(caplog)) == len(thresholds)
    sent = published_to(services.qstash, WEBHOOK)
    assert sorted(dedupe_id(m) for m in sent) == sorted(
        alert_dedupe_id(plan.project.slug, month, pct) for pct in thresholds
    )
    assert scalar(db_conn, "SELECT count(*) FROM spend_alerts WHERE notify_message_id IS NULL") == 0


def test_a_new_month_starts_from_zero(
    pool: ConnectionPool, plan: Plan, ai: AIService, services: Services, db_conn: psycopg.Connection
) -> None:
    worker = _text_worker(plan)
    cap = _worst(plan, worker, _prompt(0)) * 3
    now = [datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)]
    guard = SpendGuard(pool, plan, cap_override=cap, clock=lambda: now[0])
    _call(guard, ai, worker, 1)
    seed_spent(db_conn, date(2026, 1, 1), cap)  # January is spent out
    with pytest.raises(BudgetExhaustedError, match="2026-01"):
        _call(guard, ai, worker, 2)
    now[0] = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)
    completion = _call(guard, ai, worker, 3)
    assert completion.completion_tokens > 0
    assert len(services.azure.calls) == 2
    february = ledger_state(db_conn, cap, date(2026, 2, 1))
    assert february.spent_usd == call_cost(
        plan.spend_guard.models[str(worker.model)], completion.prompt_tokens, completion.completion_tokens
    )
    assert [(r.worker, r.calls) for r in month_to_date(db_conn, date(2026, 1, 1))] == [(worker.name, 1)]
    assert [(r.worker, r.calls, r.usd) for r in month_to_date(db_conn, date(2026, 2, 1))] == [
        (worker.name, 1, february.spent_usd)
    ]
    # January's alerts do not silence February's.
    assert {r[0] for r in rows(db_conn, "SELECT month FROM spend_alerts")} == {date(2026, 1, 1)}
