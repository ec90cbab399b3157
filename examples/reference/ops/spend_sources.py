"""Where the month-to-date figures come from: Cost Explorer (AWS), the QStash events API and the AI spend ledger.

Each source answers in exact figures (Decimal for money) or raises SpendSourceError with one line saying what
to do; ops/spend.py compares them with the plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from botocore.exceptions import ClientError

from ops.errors import OpsError

if TYPE_CHECKING:
    # Typing only: importing app.spend_guard loads the app's plan and database driver, which the deploy's
    # report does not need (the cron function reads the ledger and answers with AiActual's JSON).
    from app.spend_guard import SpendRow

# Cost Explorer's figures: unblended cost is what the invoice shows for an account without discounts.
# "GetCostAndUsage" and "GetCostForecast" (AWS Billing and Cost Management API reference,
# https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html and
# https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostForecast.html, read 2026-11-25):
# the metric is spelled `UnblendedCost` for the first and `UNBLENDED_COST` for the second; End is exclusive;
# a forecast starts today at the earliest; amounts are decimal strings.
USAGE_METRIC = "UnblendedCost"
FORECAST_METRIC = "UNBLENDED_COST"
CE_PERMISSIONS = "ce:GetCostAndUsage, ce:GetCostForecast and ce:ListCostAllocationTags"

# QStash's events (its logs): GET /v2/events, newest first, `count` at most 1000 a page, `cursor` for the next
# page (absent on the last), filters `state`, `fromDate` and `toDate` in Unix milliseconds. "Events" (Upstash
# QStash Python SDK examples, https://upstash.com/docs/qstash/sdks/py/examples/events, read 2026-11-25) and the
# SDK's own request (qstash 3.4.0, qstash/log.py). Called over HTTP here because that SDK version prints every
# page it receives (message bodies included) to stdout. Each published message has one CREATED event.
QSTASH_EVENTS_PATH = "/v2/events"
QSTASH_PAGE_SIZE = 1000
QSTASH_CREATED = "CREATED"


SECONDS_PER_DAY = 86400


class SpendSourceError(OpsError):
    """A source of the report could not answer; the message is one line saying what to do."""


@dataclass(frozen=True)
class Month:
    """The calendar month (UTC) of `now`, and how far into it `now` is."""

    now: dt.datetime

    @property
    def start(self) -> dt.date:
        return self.now.date().replace(day=1)

    @property
    def end(self) -> dt.date:
        """The first day of the next month (Cost Explorer's exclusive End)."""
        return (self.start + dt.timedelta(days=32)).replace(day=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def elapsed_fraction(self) -> Decimal:
        """The part of the month that is over; at least one day, so a month's first hours are not extrapolated
        from a few calls."""
        start = dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)
        seconds = max(Decimal((self.now - start).total_seconds()), Decimal(SECONDS_PER_DAY))
        return seconds / Decimal(self.days * SECONDS_PER_DAY)

    def project(self, to_date: Decimal) -> Decimal:
        """The month-end figure if the rest of the month goes like its elapsed part."""
        return to_date / self.elapsed_fraction

    @classmethod
    def current(cls) -> Month:
        return cls(dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class AwsActual:
    tag_filtered: bool
    by_service: dict[str, Decimal]  # month to date, Cost Explorer's service names
    forecast_total: Decimal | None  # the month's whole total (to date + Cost Explorer's forecast of the rest)
    note: str = ""


class CostExplorer:
    """Month-to-date cost by service and the month-end forecast, filtered by the stack's tag when it is active.

    `meta` answers ListCostAllocationTags and GetCostForecast (the same client unless a test gives one: moto,
    the local AWS of the tests, has neither API).
    """

    def __init__(self, ce: Any, meta: Any | None = None) -> None:
        self.ce = ce
        self.meta = meta or ce

    def actual(self, month: Month, tag_key: str, tag_value: str) -> AwsActual:
        try:
            active = self._tag_active(tag_key)
            tag_filter = {"Tags": {"Key": tag_key, "Values": [tag_value], "MatchOptions": ["EQUALS"]}}
            expression = tag_filter if active else None
            by_service = self._by_service(month, expression)
            forecast, note = self._forecast(month, expression, sum(by_service.values(), Decimal(0)))
        except ClientError as exc:
            raise SpendSourceError(describe_ce_error(exc)) from exc
        return AwsActual(active, by_service, forecast, note)

    def _tag_active(self, key: str) -> bool:
        # "Using user-defined cost allocation tags" (AWS Billing user guide,
        # https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/custom-tags.html, read 2026-11-25): a tag
        # filters Cost Explorer only once activated, and only for costs incurred after that.
        answer = self.meta.list_cost_allocation_tags(TagKeys=[key], Type="UserDefined")
        return any(t.get("Status") == "Active" for t in answer.get("CostAllocationTags", []))

    def _by_service(self, month: Month, expression: dict[str, Any] | None) -> dict[str, Decimal]:
        today = month.now.date()
        if today == month.start:
            return {}  # the month's first day: nothing billed yet (and Start == End is refused)
        request: dict[str, Any] = {
            "TimePeriod": {"Start": month.start.isoformat(), "End": today.isoformat()},
            "Granularity": "MONTHLY",
            "Metrics": [USAGE_METRIC],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        if expression:
            request["Filter"] = expression
        totals: dict[str, Decimal] = {}
        for page in _pages(self.ce.get_cost_and_usage, request):
            for period in page.get("ResultsByTime", []):
                for group in period.get("Groups", []):
                    amount = Decimal(group["Metrics"][USAGE_METRIC]["Amount"])
                    totals[group["Keys"][0]] = totals.get(group["Keys"][0], Decimal(0)) + amount
        return totals

    def _forecast(
        self, month: Month, expression: dict[str, Any] | None, to_date: Decimal
    ) -> tuple[Decimal | None, str]:
        if to_date <= 0:
            return to_date, "nothing billed yet this month: no forecast"
        request: dict[str, Any] = {
            "TimePeriod": {"Start": month.now.date().isoformat(), "End": month.end.isoformat()},
            "Metric": FORECAST_METRIC,
            "Granularity": "MONTHLY",
        }
        if expression:
            request["Filter"] = expression
        try:
            answer = self.meta.get_cost_forecast(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "DataUnavailableException":
                raise
            return None, "Cost Explorer has too little history for a forecast yet: projected from the days so far"
        return to_date + Decimal(answer["Total"]["Amount"]), ""


def _pages(call: Callable[..., dict[str, Any]], request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = call(**request, **({"NextPageToken": token} if token else {}))
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def describe_ce_error(exc: ClientError) -> str:
    """One line for a Cost Explorer refusal, saying what to do."""
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code == "AccessDeniedException" and "not enabled" in message.lower():
        return (
            "Cost Explorer is not enabled for this account: open Billing and Cost Management -> Cost Explorer once "
            "(as the account's root or an administrator); its data appears within 24 hours"
        )
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        return f"Cost Explorer refused {exc.operation_name} (access denied): the AWS identity needs {CE_PERMISSIONS}"
    if code == "DataUnavailableException":
        return "Cost Explorer has no data for this month yet (it appears within 24 hours of enabling Cost Explorer)"
    return f"Cost Explorer {exc.operation_name}: {code} ({message})"


def qstash_messages(base_url: str, token: str, month: Month, *, client: httpx.Client | None = None) -> int:
    """Messages published this month: the CREATED events from the month's start until now."""
    params = {
        "state": QSTASH_CREATED,
        "count": str(QSTASH_PAGE_SIZE),
        "fromDate": str(int(dt.datetime.combine(month.start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)),
        "toDate": str(int(month.now.timestamp() * 1000)),
    }
    http = client or httpx.Client(timeout=30.0)
    counted = 0
    cursor: str | None = None
    try:
        while True:
            response = http.get(
                f"{base_url.rstrip('/')}{QSTASH_EVENTS_PATH}",
                params={**params, **({"cursor": cursor} if cursor else {})},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code in (401, 403):
                raise SpendSourceError(
                    f"QStash refused GET {QSTASH_EVENTS_PATH} (HTTP {response.status_code}): check QSTASH_TOKEN"
                )
            if response.status_code != 200:
                raise SpendSourceError(f"QStash GET {QSTASH_EVENTS_PATH} answered HTTP {response.status_code}")
            page = response.json()
            counted += sum(1 for e in page.get("events", []) if e.get("state") == QSTASH_CREATED)
            cursor = page.get("cursor") or None
            if not cursor:
                return counted
    except httpx.HTTPError as exc:
        raise SpendSourceError(f"QStash GET {QSTASH_EVENTS_PATH}: {type(exc).__name__}") from exc
    finally:
        if client is None:
            http.close()


@dataclass(frozen=True)
class AiActual:
    worker: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    usd: Decimal

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "usd": str(self.usd)}

    @classmethod
    def of(cls, row: SpendRow) -> AiActual:
        return cls(row.worker, row.model, int(row.calls), int(row.input_tokens), int(row.output_tokens), row.usd)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AiActual:
        return cls(
            str(raw["worker"]),
            str(raw["model"]),
            int(raw["calls"]),
            int(raw["input_tokens"]),
            int(raw["output_tokens"]),
            Decimal(str(raw["usd"])),
        )


def ledger_rows(conn: Any, month: dt.date | None = None) -> list[AiActual]:
    """The spend ledger's month to date (the cron Lambda's `spend` task, and the tests, call this)."""
    from app.spend_guard import month_to_date

    return [AiActual.of(row) for row in month_to_date(conn, month)]
