"""Plan vs actual (`make spend`, the spend section of ./verify.sh): each source against the plan's lines.

Cost Explorer's GetCostAndUsage is moto's server on 127.0.0.1, configured through its moto-api endpoint
(`/moto-api/static/ce/cost-and-usage-results`). moto 5 has neither GetCostForecast nor ListCostAllocationTags,
and cannot refuse a call as an account without Cost Explorer does: those calls go to a botocore Stubber client
(the report's `meta` client), which also asserts the exact request (the tag filter, the forecast's period).
The ledger is real PostgreSQL rows read by app.spend_guard.month_to_date; QStash is the stand-in's /v2/events.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import requests
from botocore.stub import Stubber

from ops.cli import main
from ops.console import Console
from ops.deploy import Hooks
from ops.spend import (
    OVER_BUDGET_EXIT_CODE,
    AiPlan,
    OverBudgetError,
    SpendPlan,
    SpendSources,
    ledger_from_task,
    spend_report,
)
from ops.spend_sources import AiActual, CostExplorer, Month, SpendSourceError, ledger_rows, qstash_messages
from tests.helpers import Services
from tests.ops_support import OpsWorld

pytest_plugins = ["tests.conftest_ops"]

REPO = Path(__file__).resolve().parent.parent
# Day 21 at midnight: 20 of November's 30 days are over, so a projection is the month so far x 1.5.
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
MONTH = Month(NOW)
THREE_HALVES = Decimal("1.5")


def first_ai_worker(spend_plan: SpendPlan) -> AiPlan:
    if not spend_plan.ai:
        pytest.skip("no worker of this project calls a model")
    return spend_plan.ai[0]


@pytest.fixture
def spend_plan() -> SpendPlan:
    return SpendPlan.load()


def ce_results(services: Services, groups: dict[str, str]) -> None:
    """The next GetCostAndUsage answer of moto's server: this month's cost by service, as Cost Explorer sends it."""
    result: Any = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": MONTH.start.isoformat(), "End": NOW.date().isoformat()},
                "Total": {},
                "Groups": [
                    {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                    for service, amount in groups.items()
                ],
                "Estimated": True,
            }
        ],
        "DimensionValueAttributes": [],
    }
    response = requests.post(
        f"{services.s3_endpoint}/moto-api/static/ce/cost-and-usage-results", json={"results": [result]}, timeout=5
    )
    assert response.status_code == 201


def moto_ce(services: Services) -> Any:
    return boto3.client("ce", region_name="us-east-1", endpoint_url=services.s3_endpoint)  # type: ignore[call-overload]


def stubbed_ce() -> tuple[Any, Stubber]:
    client = boto3.client(  # type: ignore[call-overload]
        "ce", region_name="us-east-1", aws_access_key_id="stub", aws_secret_access_key="stub"
    )
    return client, Stubber(client)


def tag_filter(plan: SpendPlan) -> dict[str, Any]:
    return {"Tags": {"Key": plan.tag_key, "Values": [plan.tag_value], "MatchOptions": ["EQUALS"]}}


def meta(plan: SpendPlan, *, status: str, forecast_rest: str | None) -> Any:
    """ListCostAllocationTags (the tag's status) and, when given, GetCostForecast for the rest of the month."""
    client, stubber = stubbed_ce()
    stubber.add_response(
        "list_cost_allocation_tags",
        {"CostAllocationTags": [{"TagKey": plan.tag_key, "Type": "UserDefined", "Status": status}]},
        {"TagKeys": [plan.tag_key], "Type": "UserDefined"},
    )
    if forecast_rest is not None:
        request: dict[str, Any] = {
            "TimePeriod": {"Start": NOW.date().isoformat(), "End": "2026-12-01"},
            "Metric": "UNBLENDED_COST",
            "Granularity": "MONTHLY",
        }
        if status == "Active":
            request["Filter"] = tag_filter(plan)
        stubber.add_response(
            "get_cost_forecast",
            {
                "Total": {"Amount": forecast_rest, "Unit": "USD"},
                "ForecastResultsByTime": [
                    {"TimePeriod": request["TimePeriod"], "MeanValue": forecast_rest},
                ],
            },
            request,
        )
    stubber.activate()
    return client


def add_calls(
    database_url: str, worker: str, model: str, calls: int, tokens: tuple[int, int], usd: str, month: dt.date
) -> None:
    """`calls` answered model calls of one worker, as the spend guard settles them (model_calls rows)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for seq in range(calls):
            conn.execute(
                "INSERT INTO model_calls (message_id, seq, prompt_sha256, worker, model, month, state, reserved_usd,"
                " usd, prompt_tokens, completion_tokens, settled_at)"
                " VALUES (%s, %s, 'sha', %s, %s, %s, 'answered', %s, %s, %s, %s, now())",
                (f"msg_{uuid.uuid4().hex}", seq, worker, model, month, usd, usd, tokens[0], tokens[1]),
            )


def ledger(services: Services) -> Any:
    def read() -> list[AiActual]:
        with psycopg.connect(services.database_url) as conn:
            return ledger_rows(conn, MONTH.start)

    return read


def sources(services: Services, meta_client: Any, *, token: str | None = None) -> SpendSources:
    return SpendSources(
        CostExplorer(moto_ce(services), meta_client),
        ledger(services),
        services.qstash.url,
        services.qstash.token if token is None else token,
        now=lambda: MONTH,
    )


def run(sources_: SpendSources, plan: SpendPlan) -> tuple[int | None, str, OverBudgetError | None]:
    buffer = io.StringIO()
    console = Console(buffer)
    try:
        code: int | None = spend_report(sources_, console, plan)
        error = None
    except OverBudgetError as exc:
        code, error = exc.exit_code, exc
    out = buffer.getvalue()
    print(out)
    return code, out, error


def row_of(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(name))


def test_a_month_projects_its_elapsed_part_and_at_least_a_day() -> None:
    assert MONTH.project(Decimal(20)) == Decimal(30)
    assert (MONTH.start, MONTH.end, MONTH.days) == (dt.date(2026, 11, 1), dt.date(2026, 12, 1), 30)
    first_hour = Month(dt.datetime(2026, 2, 1, 1, tzinfo=dt.UTC))
    assert first_hour.days == 28
    assert first_hour.project(Decimal(1)) == Decimal(28)  # one day's spend, not one hour's, times the month


def test_aws_costs_by_service_map_to_the_plans_lines(services: Services, spend_plan: SpendPlan) -> None:
    ce_results(
        services,
        {"Amazon Relational Database Service": "17.1066", "EC2 - Other": "24.20", "Tax": "2.00"},
    )
    # Cost Explorer forecasts 30.653 for the 10 days left: the month ends at 43.3066 + 30.653 = 73.9596.
    code, out, _ = run(sources(services, meta(spend_plan, status="Inactive", forecast_rest="30.653")), spend_plan)
    assert code == 0
    assert "whole account: tag not active" in out
    rds = next(s for s in spend_plan.aws_services if s.service == "Amazon Relational Database Service")
    ratio = Decimal("73.9596") / Decimal("43.3066")
    line = row_of(out, "Amazon Relational Database Service")
    assert "$17.11" in line
    assert f"${(Decimal('17.1066') * ratio).quantize(Decimal('0.01'))}" in line
    assert f"${rds.plan_high:.2f}" in line
    assert ", ".join(rds.lines) in line
    assert rds.lines == ("rds_instance", "rds_storage", "rds_backup")
    nat = row_of(out, "EC2 - Other")
    assert "nat_hours, nat_data" in nat
    assert "$24.20" in nat
    # A service the plan has no line for is shown, and counted, as such.
    assert "not in the plan" in row_of(out, "Tax")
    # Every planned service is listed, billed or not.
    for service in spend_plan.aws_services:
        assert row_of(out, service.service)
    assert "infrastructure budget: month-end forecast" in out
    assert "(within)" in out


def test_an_active_tag_filters_the_stacks_costs_and_the_forecast(services: Services, spend_plan: SpendPlan) -> None:
    ce_results(services, {"Amazon ElastiCache": "12.00"})
    # The Stubber fails the call unless the forecast carries the tag filter (and the exact period).
    code, out, _ = run(sources(services, meta(spend_plan, status="Active", forecast_rest="6.00")), spend_plan)
    assert code == 0
    assert f"tag {spend_plan.tag_key}={spend_plan.tag_value}" in out
    assert "$12.00" in row_of(out, "Amazon ElastiCache")
    assert "$18.00" in row_of(out, "Amazon ElastiCache")


def test_a_forecast_over_the_infrastructure_budget_exits_4_naming_the_service(
    services: Services, spend_plan: SpendPlan
) -> None:
    # NAT spend at 80% of the budget by day 21, and the rest of the month forecast at half the month so far: each
    # service's forecast is its share of the total, 1.5 times its spend to date.
    nat = (spend_plan.infrastructure_budget * Decimal("0.8")).quantize(Decimal("0.01"))
    rds = Decimal("17.00")
    ce_results(services, {"EC2 - Other": str(nat), "Amazon Relational Database Service": str(rds)})
    rest = str((nat + rds) / 2)
    code, _out, error = run(sources(services, meta(spend_plan, status="Active", forecast_rest=rest)), spend_plan)
    assert code == OVER_BUDGET_EXIT_CODE == 4
    assert error is not None
    message = str(error)
    assert message.startswith("infrastructure budget: month-end forecast $")
    assert f"of ${spend_plan.infrastructure_budget:,.2f} (OVER)" in message
    nat_forecast = (nat * Decimal("1.5")).quantize(Decimal("0.01"))
    assert f"driven by EC2 - Other (plan lines nat_hours, nat_data): forecast ${nat_forecast:,}" in message
    assert "AI budget" not in message  # only the budget that is over


def test_ai_from_the_ledger_per_worker_and_model_against_the_plan(services: Services, spend_plan: SpendPlan) -> None:
    ce_results(services, {})
    video = first_ai_worker(spend_plan)
    add_calls(services.database_url, video.worker, video.model, 4, (1800, 120), "0.00021", MONTH.start)
    # Last month's calls are not this month's.
    add_calls(services.database_url, video.worker, video.model, 3, (1, 1), "9", dt.date(2026, 10, 1))
    code, out, _ = run(sources(services, meta(spend_plan, status="Inactive", forecast_rest=None)), spend_plan)
    assert code == 0
    lines = out.splitlines()
    at = next(n for n, text in enumerate(lines) if text.strip().startswith(f"{video.worker} {video.model}"))
    line, plan_line = lines[at], lines[at + 1]
    assert line.split()[2:5] == ["4", "7,200", "480"]
    assert "$0.00" in line  # 4 x $0.00021 = $0.00084, shown to the cent
    assert f"{video.calls_high:,}" in plan_line
    assert f"{video.input_tokens_high:,}" in plan_line
    assert f"${video.plan_high:.2f}" in plan_line
    assert "nothing billed yet this month: no forecast" in out


def test_an_ai_forecast_over_the_budget_names_the_worker_and_model(services: Services, spend_plan: SpendPlan) -> None:
    ce_results(services, {})
    # The first AI worker drives the forecast; the last (the same one when there is only one) adds a little.
    alerts, trends = first_ai_worker(spend_plan), spend_plan.ai[-1]
    per_call = (spend_plan.ai_budget * Decimal("0.7") / 10).quantize(Decimal("0.00000001"))
    add_calls(services.database_url, alerts.worker, alerts.model, 10, (500, 400), str(per_call), MONTH.start)
    add_calls(services.database_url, trends.worker, trends.model, 2, (500, 150), "0.001", MONTH.start)
    code, _out, error = run(sources(services, meta(spend_plan, status="Inactive", forecast_rest=None)), spend_plan)
    assert code == 4
    assert error is not None
    # 70% of the budget in two thirds of the month: 105% by its end.
    forecast = (per_call * 10 + Decimal("0.002")) * THREE_HALVES
    assert str(error).startswith(f"AI budget: month-end forecast ${forecast.quantize(Decimal('0.01')):,}")
    assert f"driven by {alerts.worker} {alerts.model} (plan lines {', '.join(alerts.lines)})" in str(error)


def test_qstash_messages_are_counted_from_its_events_across_pages(services: Services, spend_plan: SpendPlan) -> None:
    start_ms = int(dt.datetime.combine(MONTH.start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    qstash = services.qstash
    for n in range(2500):  # three pages of at most 1000
        at = start_ms + n * 600_000
        qstash.record_event(f"msg_{n}", "https://example.com/w", "CREATED", at_ms=at)
        qstash.record_event(f"msg_{n}", "https://example.com/w", "DELIVERED", at_ms=at + 1)
    qstash.record_event("msg_old", "https://example.com/w", "CREATED", at_ms=start_ms - 1)  # October
    qstash.record_event("msg_new", "https://example.com/w", "CREATED", at_ms=int(NOW.timestamp() * 1000) + 1)
    assert qstash_messages(qstash.url, qstash.token, MONTH) == 2500
    ce_results(services, {})
    _, out, _ = run(sources(services, meta(spend_plan, status="Inactive", forecast_rest=None)), spend_plan)
    assert f"QStash: 2,500 messages to date, 3,750 by month end; plan {spend_plan.qstash.messages_low:,}-" in out


def test_qstash_events_speak_the_wire_format(services: Services) -> None:
    qstash = services.qstash
    first = qstash.record_event("msg_a", "https://example.com/a", "CREATED", at_ms=1000)
    qstash.record_event("msg_b", "https://example.com/b", "CREATED", at_ms=2000)
    headers = {"Authorization": f"Bearer {qstash.token}"}
    page = requests.get(f"{qstash.url}/v2/events", params={"count": "1"}, headers=headers, timeout=5).json()
    assert page["events"] == [{"time": 2000, "messageId": "msg_b", "state": "CREATED", "url": "https://example.com/b"}]
    last = requests.get(
        f"{qstash.url}/v2/events", params={"count": "1", "cursor": page["cursor"]}, headers=headers, timeout=5
    ).json()
    assert [e["messageId"] for e in last["events"]] == [first.message_id]
    assert "cursor" not in last
    assert (
        requests.get(f"{qstash.url}/v2/events", params={"count": "1001"}, headers=headers, timeout=5).status_code == 400
    )
    assert requests.get(f"{qstash.url}/v2/events", timeout=5).status_code == 401


def test_a_wrong_qstash_token_is_one_line(services: Services) -> None:
    with pytest.raises(SpendSourceError) as failure:
        qstash_messages(services.qstash.url, "wrong", MONTH)
    assert str(failure.value) == "QStash refused GET /v2/events (HTTP 401): check QSTASH_TOKEN"


@pytest.mark.parametrize(
    ("operation", "message", "expected"),
    [
        (
            "list_cost_allocation_tags",
            "User not enabled for cost explorer access",
            "Cost Explorer is not enabled for this account: open Billing and Cost Management -> Cost Explorer",
        ),
        (
            "get_cost_forecast",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ce:GetCostForecast",
            "Cost Explorer refused GetCostForecast (access denied): the AWS identity needs ce:GetCostAndUsage, "
            "ce:GetCostForecast and ce:ListCostAllocationTags",
        ),
    ],
)
def test_cost_explorer_refusals_are_one_line_and_exit_1(
    ops_world: OpsWorld, services: Services, spend_plan: SpendPlan, operation: str, message: str, expected: str
) -> None:
    ce_results(services, {"AWS Lambda": "1.00"})
    client, stubber = stubbed_ce()
    if operation == "get_cost_forecast":
        stubber.add_response(
            "list_cost_allocation_tags",
            {"CostAllocationTags": [{"TagKey": spend_plan.tag_key, "Type": "UserDefined", "Status": "Inactive"}]},
        )
    stubber.add_client_error(
        operation, service_error_code="AccessDeniedException", service_message=message, http_status_code=400
    )
    stubber.activate()
    out = io.StringIO()
    hooks = Hooks(spend_ledger=lambda: [], cost_explorer_meta=client, month=lambda: MONTH)
    assert main(["spend"], hooks=hooks, console=Console(out)) == 1
    text = out.getvalue().strip()
    assert len(text.splitlines()) == 1
    assert "Traceback" not in text
    assert text.split("] ", 1)[1].startswith(f"spend failed: {expected}")


def test_make_spend_exits_4_through_the_cli(ops_world: OpsWorld, services: Services, spend_plan: SpendPlan) -> None:
    ce_results(services, {})
    alerts = first_ai_worker(spend_plan)
    add_calls(services.database_url, alerts.worker, alerts.model, 1, (10, 10), str(spend_plan.ai_budget), MONTH.start)
    out = io.StringIO()
    hooks = Hooks(
        spend_ledger=ledger(services),
        cost_explorer_meta=meta(spend_plan, status="Inactive", forecast_rest=None),
        month=lambda: MONTH,
    )
    assert main(["spend"], hooks=hooks, console=Console(out)) == 4
    last = out.getvalue().strip().splitlines()[-1]
    assert "spend failed: AI budget: month-end forecast" in last
    assert f"driven by {alerts.worker} {alerts.model}" in last


def test_the_cron_lambdas_spend_task_reads_the_ledger(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.spend_guard import current_month
    from ops.tasks import handler

    # Any worker and model: the task reports what the ledger holds.
    add_calls(services.database_url, "example_worker", "example-model", 2, (100, 10), "0.125", current_month())
    monkeypatch.setenv("DATABASE_URL", services.database_url)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    rows = ledger_from_task(lambda task: json.loads(json.dumps(handler({"task": task}, None))))()
    assert rows == [AiActual("example_worker", "example-model", 2, 200, 20, Decimal("0.25000000"))]


def test_verify_help_documents_the_spend_report_and_its_exit_code() -> None:
    shown = subprocess.run(["bash", str(REPO / "verify.sh"), "--help"], capture_output=True, text=True, check=True)
    assert "spend report" in shown.stdout
    assert "make spend" in shown.stdout
    assert "4  a month-end forecast exceeds its budget" in shown.stdout


def test_the_stack_tags_every_resource_that_takes_tags() -> None:
    from cfnlint.decode import decode_str  # type: ignore[import-untyped]
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

    plan = SpendPlan.load()
    template, problems = decode_str((REPO / "infra" / "stack.yaml").read_text(encoding="utf-8"))
    assert not problems
    assert template is not None
    untagged = []
    taggable = 0
    for name, resource in template["Resources"].items():
        properties = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema["properties"]
        field = next((f for f in ("Tags", "ResourceTags") if f in properties), None)
        if field is None:
            continue
        taggable += 1
        tags = resource.get("Properties", {}).get(field) or []
        if {"Key": plan.tag_key, "Value": plan.tag_value} not in tags:
            untagged.append(name)
    assert taggable > 20
    assert untagged == []
