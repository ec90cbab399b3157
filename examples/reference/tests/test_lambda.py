"""The Lambda entry point (Mangum) serves Function URL events, configured from the environment alone."""

from __future__ import annotations

import importlib
import json
import sys

import psycopg
import pytest

from app.plan import Plan
from app.settings import get_settings
from devstack.lambda_event import function_url_event
from devstack.qstash_signer import delivery_headers
from tests.helpers import Services, new_message_id, rows


def test_signed_function_url_event_runs_the_worker(
    services: Services, plan: Plan, db_conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in services.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    sys.modules.pop("app.main", None)
    main = importlib.import_module("app.main")
    try:
        route = plan.qstash.failure_callback_route  # present whatever workers the plan keeps
        body = json.dumps({"sourceMessageId": "msg_source", "url": "https://x.test/w", "status": 500}).encode()
        message_id = new_message_id()
        headers = delivery_headers(body, services.public_base_url + route, services.current_key, message_id=message_id)
        response = main.handler(function_url_event("POST", route, body, headers), None)
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"])["status"] == "done"
        assert rows(db_conn, "SELECT message_id, state FROM jobs") == [(message_id, "done")]

        forged = main.handler(function_url_event("POST", route, body, {"Upstash-Message-Id": "x"}), None)
        assert forged["statusCode"] == 401
    finally:
        main.app.state.resources.close()
        get_settings.cache_clear()
