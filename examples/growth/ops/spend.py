"""Plan vs actual: the month's spend so far and its month-end forecast against the plan, line by line.

`make spend` (python -m ops spend) prints only this; `./verify.sh` prints it after its checks. Exit code 4
(OverBudgetError) when a month-end forecast exceeds its budget, naming the line that drives it.

- AWS: Cost Explorer by service (filtered by the stack's cost-allocation tag once it is active), each service
  mapped to the plan's lines (infra/ops.json `spend.aws_services`), and Cost Explorer's forecast of the month.
- Azure AI: the spend ledger per worker and model (calls, tokens, dollars), read inside the VPC.
- QStash: the messages published this month (its events API) against the plan's count.

Forecasts of the ledger and of QStash project the month so far over the whole month.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ops.config import OPS_PLAN_PATH
from ops.console import Console
from ops.errors import OpsError
from ops.spend_sources import AiActual, AwsActual, CostExplorer, Month, SpendSourceError, qstash_messages

OVER_BUDGET_EXIT_CODE = 4
CENT = Decimal("0.01")


class OverBudgetError(OpsError):
    """A month-end forecast exceeds its budget; the message names the budget and the line driving it."""

    exit_code = OVER_BUDGET_EXIT_CODE


def usd(value: Decimal) -> str:
    return f"${value.quantize(CENT):,}"


@dataclass(frozen=True)
class ServicePlan:
    service: str
    lines: tuple[str, ...]
    plan_low: Decimal
    plan_high: Decimal


@dataclass(frozen=True)
class FixedLine:
    id: str
    service: str
    plan_high: Decimal


@dataclass(frozen=True)
class QStashPlan:
    line: str
    messages_low: int
    messages_high: int
    plan_high: Decimal
    usd_per_message: Decimal


@dataclass(frozen=True)
class AiPlan:
    worker: str
    model: str
    lines: tuple[str, ...]
    calls_high: int
    input_tokens_high: int
    output_tokens_high: int
    plan_low: Decimal
    plan_high: Decimal


@dataclass(frozen=True)
class SpendPlan:
    """infra/ops.json `spend`: what the plan expects a month, per Cost Explorer service, QStash and AI use."""

    tag_key: str
    tag_value: str
    infrastructure_budget: Decimal
    ai_budget: Decimal
    aws_services: tuple[ServicePlan, ...]
    fixed_lines: tuple[FixedLine, ...]
    qstash: QStashPlan
    ai: tuple[AiPlan, ...]

    @classmethod
    def load(cls, path: Path = OPS_PLAN_PATH) -> SpendPlan:
        raw = json.loads(path.read_text(encoding="utf-8"))["spend"]
        q = raw["qstash"]
        return cls(
            tag_key=raw["tag"]["key"],
            tag_value=raw["tag"]["value"],
            infrastructure_budget=Decimal(raw["infrastructure_budget_usd"]),
            ai_budget=Decimal(raw["ai_budget_usd"]),
            aws_services=tuple(
                ServicePlan(s["service"], tuple(s["lines"]), Decimal(s["plan_low_usd"]), Decimal(s["plan_high_usd"]))
                for s in raw["aws_services"]
            ),
            fixed_lines=tuple(
                FixedLine(f["id"], f["service"], Decimal(f["plan_high_usd"])) for f in raw["fixed_lines"]
            ),
            qstash=QStashPlan(
                q["line"],
                int(q["messages_low"]),
                int(q["messages_high"]),
                Decimal(q["plan_high_usd"]),
                Decimal(q["usd_per_message"]),
            ),
            ai=tuple(
                AiPlan(
                    a["worker"],
                    a["model"],
                    tuple(a["lines"]),
                    int(a["calls_high"]),
                    int(a["input_tokens_high"]),
                    int(a["output_tokens_high"]),
                    Decimal(a["plan_low_usd"]),
                    Decimal(a["plan_high_usd"]),
                )
                for a in raw["ai"]
            ),
        )


@dataclass(frozen=True)
class Row:
    """One line of the report: what it cost so far, its month-end forecast, and the plan's figure for it."""

    name: str
    lines: tuple[str, ...]
    to_date: Decimal
    forecast: Decimal
    plan_high: Decimal

    @property
    def excess(self) -> Decimal:
        return self.forecast - self.plan_high

    def describe(self) -> str:
        lines = f" (plan lines {', '.join(self.lines)})" if self.lines else " (not in the plan)"
        return f"{self.name}{lines}: forecast {usd(self.forecast)} against {usd(self.plan_high)} planned"


@dataclass(frozen=True)
class BudgetVerdict:
    budget: str
    limit: Decimal
    forecast: Decimal
    driver: Row | None

    @property
    def over(self) -> bool:
        return self.forecast > self.limit

    def describe(self) -> str:
        state = "OVER" if self.over else "within"
        text = f"{self.budget} budget: month-end forecast {usd(self.forecast)} of {usd(self.limit)} ({state})"
        if self.driver is not None and (self.over or self.driver.excess > 0):
            text += f"; driven by {self.driver.describe()}"
        return text


@dataclass(frozen=True)
class SpendReport:
    month: Month
    aws: AwsActual
    aws_rows: tuple[Row, ...]
    qstash_messages: int | None  # None: QStash was not asked (no token)
    qstash_row: Row
    ai_rows: tuple[tuple[AiActual, AiPlan | None, Row], ...]
    fixed: tuple[FixedLine, ...]
    infrastructure: BudgetVerdict
    ai: BudgetVerdict

    @property
    def over(self) -> list[BudgetVerdict]:
        return [v for v in (self.infrastructure, self.ai) if v.over]


def _driver(rows: list[Row]) -> Row | None:
    """The line furthest above its plan (or, when none is, the largest forecast)."""
    if not rows:
        return None
    return max(rows, key=lambda r: (r.excess, r.forecast))


def build_report(
    plan: SpendPlan, month: Month, aws: AwsActual, ledger: list[AiActual], messages: int | None
) -> SpendReport:
    aws_to_date = sum(aws.by_service.values(), Decimal(0))
    # Cost Explorer forecasts the total only: each service gets its share of the forecast as of its share so far.
    aws_forecast = aws.forecast_total if aws.forecast_total is not None else month.project(aws_to_date)
    ratio = aws_forecast / aws_to_date if aws_to_date > 0 else Decimal(0)
    planned = {s.service: s for s in plan.aws_services}
    aws_rows = [
        Row(
            s.service,
            s.lines,
            aws.by_service.get(s.service, Decimal(0)),
            aws.by_service.get(s.service, Decimal(0)) * ratio,
            s.plan_high,
        )
        for s in plan.aws_services
    ]
    aws_rows += [
        Row(name, (), amount, amount * ratio, Decimal(0))
        for name, amount in sorted(aws.by_service.items())
        if name not in planned and amount != 0
    ]
    q = plan.qstash
    counted = messages or 0
    qstash_forecast_messages = month.project(Decimal(counted))
    qstash_row = Row(
        "Upstash QStash",
        (q.line,),
        Decimal(counted) * q.usd_per_message,
        qstash_forecast_messages * q.usd_per_message,
        q.plan_high,
    )
    fixed_total = sum((f.plan_high for f in plan.fixed_lines), Decimal(0))
    infrastructure = BudgetVerdict(
        "infrastructure",
        plan.infrastructure_budget,
        aws_forecast + qstash_row.forecast + fixed_total,
        _driver([*aws_rows, qstash_row]),
    )
    ai_plans = {(a.worker, a.model): a for a in plan.ai}
    actuals = {(a.worker, a.model): a for a in ledger}
    # Every planned use (with no calls yet: zero) and every use the ledger has, planned or not.
    for key in ai_plans.keys() - actuals.keys():
        actuals[key] = AiActual(key[0], key[1], 0, 0, 0, Decimal(0))
    ai_rows = []
    for actual in sorted(actuals.values(), key=lambda a: (a.worker, a.model)):
        planned_use = ai_plans.get((actual.worker, actual.model))
        lines = planned_use.lines if planned_use else ()
        row = Row(
            f"{actual.worker} {actual.model}",
            lines,
            actual.usd,
            month.project(actual.usd),
            planned_use.plan_high if planned_use else Decimal(0),
        )
        ai_rows.append((actual, planned_use, row))
    ai = BudgetVerdict(
        "AI",
        plan.ai_budget,
        sum((row.forecast for _, _, row in ai_rows), Decimal(0)),
        _driver([row for _, _, row in ai_rows]),
    )
    return SpendReport(
        month, aws, tuple(aws_rows), messages, qstash_row, tuple(ai_rows), plan.fixed_lines, infrastructure, ai
    )


NAME = 46
MONEY = 12


def _money_columns(*values: Decimal) -> str:
    return "".join(f"{usd(v):>{MONEY}}" for v in values)


def print_report(report: SpendReport, plan: SpendPlan, console: Console) -> None:
    month = report.month
    console.step(
        "spend",
        f"{month.start:%Y-%m} so far (day {month.now.day} of {month.days}) and its month-end forecast against the plan",
    )
    scope = f"tag {plan.tag_key}={plan.tag_value}" if report.aws.tag_filtered else "whole account: tag not active"
    console.detail(f"AWS (Cost Explorer, {scope})")
    console.detail(f"  {'service':<{NAME}}{'to date':>{MONEY}}{'forecast':>{MONEY}}{'plan high':>{MONEY}}  plan lines")
    for row in report.aws_rows:
        console.detail(
            f"  {row.name:<{NAME}}{_money_columns(row.to_date, row.forecast, row.plan_high)}  "
            + (", ".join(row.lines) if row.lines else "not in the plan")
        )
    if report.aws.note:
        console.detail(f"  ({report.aws.note})")
    q, row = plan.qstash, report.qstash_row
    if report.qstash_messages is None:
        console.detail("QStash: not counted (QSTASH_TOKEN and QSTASH_URL are not set)")
    else:
        projected = month.project(Decimal(report.qstash_messages))
        console.detail(
            f"QStash: {report.qstash_messages:,} messages to date, {projected:,.0f} by month end; plan "
            f"{q.messages_low:,}-{q.messages_high:,} a month ({usd(row.forecast)} forecast, {usd(q.plan_high)} planned)"
        )
    for fixed in report.fixed:
        console.detail(f"{fixed.service}: {usd(fixed.plan_high)} a month, counted at the plan's figure ({fixed.id})")
    console.detail("Azure AI (spend ledger), per worker and model; under each, the plan's month at most")
    console.detail(
        f"  {'worker model':<{NAME}}{'calls':>10}{'in tokens':>14}{'out tokens':>14}"
        f"{'to date':>{MONEY}}{'forecast':>{MONEY}}{'plan high':>{MONEY}}"
    )
    for actual, planned, row in report.ai_rows:
        console.detail(
            f"  {row.name:<{NAME}}{actual.calls:>10,}{actual.input_tokens:>14,}{actual.output_tokens:>14,}"
            f"{_money_columns(row.to_date, row.forecast)}"
        )
        if planned is not None:
            console.detail(
                f"  {'  plan: ' + ', '.join(planned.lines):<{NAME}}{planned.calls_high:>10,}"
                f"{planned.input_tokens_high:>14,}{planned.output_tokens_high:>14,}{'':>{2 * MONEY}}"
                f"{usd(planned.plan_high):>{MONEY}}"
            )
        else:
            console.detail("    not in the plan")
    console.detail(report.infrastructure.describe())
    console.detail(report.ai.describe())


@dataclass
class SpendSources:
    """Where the report reads from (the CLI wires AWS, the cron Lambda and QStash; tests wire local ones)."""

    cost_explorer: CostExplorer
    ledger: Callable[[], list[AiActual]]
    qstash_url: str
    qstash_token: str
    now: Callable[[], Month] = Month.current


def spend_report(sources: SpendSources, console: Console, plan: SpendPlan | None = None) -> int:
    """Prints the report; raises OverBudgetError (exit 4) when a forecast exceeds its budget."""
    plan = plan or SpendPlan.load()
    month = sources.now()
    aws = sources.cost_explorer.actual(month, plan.tag_key, plan.tag_value)
    messages = (
        qstash_messages(sources.qstash_url, sources.qstash_token, month)
        if sources.qstash_url and sources.qstash_token
        else None
    )
    report = build_report(plan, month, aws, sources.ledger(), messages)
    print_report(report, plan, console)
    if report.over:
        raise OverBudgetError("; ".join(v.describe() for v in report.over))
    return 0


def ledger_from_task(invoke: Callable[[str], dict[str, Any]]) -> Callable[[], list[AiActual]]:
    """The ledger as the cron Lambda's `spend` task reads it inside the VPC."""

    def read() -> list[AiActual]:
        try:
            answer = invoke("spend")
        except RuntimeError as exc:
            raise SpendSourceError(f"spend ledger: {exc}") from exc
        return [AiActual.from_json(row) for row in answer.get("rows", [])]

    return read
