"""The workers' database session settings (app/plan.json `database`) follow from the Lambda's timeout and the
keepalive constants, for every tier: no statement or open transaction outlives the function."""

from __future__ import annotations

import pytest

from generator.plan.answers import Answers
from generator.plan.plan import build_plan
from generator.plan.rules import load_rules


@pytest.mark.parametrize("users", [100, 2_000, 20_000])
def test_session_limits_follow_the_lambda_timeout(users: int) -> None:
    plan = build_plan(Answers(users=users, aws_budget=100_000, ai_budget=100_000))
    const = load_rules().constants
    session = plan.runtime.database
    lambda_ms = plan.sizing.workers_lambda.timeout_seconds * 1000
    assert session.statement_timeout_ms == session.idle_in_transaction_session_timeout_ms == lambda_ms
    assert 0 < session.lock_timeout_ms <= session.statement_timeout_ms
    assert session.lock_timeout_ms == min(const.db_lock_timeout_seconds * 1000, lambda_ms)
    silent_peer_s = session.keepalives_idle_seconds + session.keepalives_interval_seconds * session.keepalives_count
    assert session.tcp_user_timeout_ms == silent_peer_s * 1000
    # A dead client is noticed well before the Lambda itself would have timed out.
    assert session.tcp_user_timeout_ms + session.client_connection_check_interval_ms < lambda_ms
    assert plan.worker_manifest()["database"] == session.model_dump()
