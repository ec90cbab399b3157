"""Budget: a priced line per item of the sized stack, totals per budget, headroom and verdicts.

Every line's cost is its billable quantity priced by one catalog unit price (tiers applied), for the low and
the high estimate; free allowances are subtracted from the quantity, never hidden in the price.

Money is exact: `decimal.Decimal` throughout. Each line's cost is rounded to the cent once, half up
(ROUND_HALF_UP, the rounding of a bill), and every total is the sum of those rounded lines, so a total always
equals the sum of the lines shown beside it. In JSON, amounts are strings with exactly two decimals
("136.65"); unit prices are strings with the catalog's own precision.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog, UnitPrice
from generator.plan.rules import Rules
from generator.plan.sizing import HOURS_PER_MONTH, Range, Sizing

BudgetName = Literal["infrastructure", "ai"]
# fits: the high estimate is within the budget with room to spare; tight: within it, above the tight ratio;
# at risk: the low estimate fits and the high one does not; over: even the low estimate exceeds it.
Verdict = Literal["fits", "tight", "at risk", "over"]
VERDICT_ORDER: tuple[Verdict, ...] = ("fits", "tight", "at risk", "over")
CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    """An amount rounded to the cent, half up: the one rounding every line gets."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def exact(value: float) -> Decimal:
    """A float (an answer, a quantity) as the decimal it prints as, not its binary expansion."""
    return Decimal(repr(value))


# Infrastructure lines billed by someone other than AWS: AWS Budgets cannot see them.
NON_AWS_SERVICES = ("Vercel", "Upstash QStash")


class LowPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    price_id: str
    unit: str
    unit_price: Decimal


class Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    budget: BudgetName
    service: str
    item: str
    quantity_low: float
    quantity_high: float
    unit: str
    unit_price: Decimal
    # Rounded to the cent (ROUND_HALF_UP); totals add these.
    cost_low: Decimal
    cost_high: Decimal
    price_id: str
    sources: tuple[str, ...]
    source_urls: tuple[str, ...]
    as_of: str
    confidence: str
    derivation: str | None = None
    note: str | None = None
    # Set when the low estimate is billed on another price than the high one (a cheaper QStash plan holds
    # it): then quantity_low is in this price's unit.
    low_price: LowPrice | None = None


class BudgetTotal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    budget: BudgetName
    limit: Decimal
    low: Decimal
    high: Decimal
    headroom_low: Decimal
    headroom_high: Decimal
    used_high_pct: float | None
    verdict: Verdict


class Totals(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    infrastructure: BudgetTotal
    ai: BudgetTotal
    all_low: Decimal
    all_high: Decimal
    verdict: Verdict

    def over(self) -> list[BudgetTotal]:
        """The budgets even the low estimate exceeds: the plan is refused."""
        return [t for t in (self.infrastructure, self.ai) if t.verdict == "over"]

    def at_risk(self) -> list[BudgetTotal]:
        """The budgets only the high estimate exceeds."""
        return [t for t in (self.infrastructure, self.ai) if t.verdict == "at risk"]

    def high_fits(self) -> bool:
        return not self.over() and not self.at_risk()


def priced_line(
    catalog: Catalog,
    *,
    id: str,
    budget: BudgetName,
    service: str,
    item: str,
    price: UnitPrice,
    quantity: Range,
    note: str | None = None,
    low_price: UnitPrice | None = None,
) -> Line:
    """The line for `quantity` at `price` (the low estimate at `low_price` when given): the quantity is
    priced as shown (6 decimals), exactly, then rounded to the cent once."""
    quantity_low, quantity_high = round(quantity.low, 6), round(quantity.high, 6)
    low = low_price or price
    sources = tuple(dict.fromkeys((*low.sources, *price.sources)))
    return Line(
        id=id,
        budget=budget,
        service=service,
        item=item,
        quantity_low=quantity_low,
        quantity_high=quantity_high,
        unit=price.unit,
        unit_price=price.usd,
        cost_low=cents(low.cost(exact(quantity_low))),
        cost_high=cents(price.cost(exact(quantity_high))),
        price_id=price.id,
        sources=sources,
        source_urls=tuple(catalog.sources[s].url for s in sources),
        as_of=min(low.as_of, price.as_of),
        confidence=min(low.confidence, price.confidence, key="LMH".index),
        derivation=price.line_derivation(exact(quantity_low), exact(quantity_high)),
        note=note,
        low_price=None
        if low_price is None or low_price.id == price.id
        else LowPrice(price_id=low_price.id, unit=low_price.unit, unit_price=low_price.usd),
    )


def budget_lines(answers: Answers, sizing: Sizing, catalog: Catalog, rules: Rules) -> list[Line]:
    region = answers.aws_region
    infra: list[Line] = []

    def add(id: str, service: str, item: str, price_id: str, quantity: Range, note: str | None = None) -> None:
        price = catalog.price(price_id, region)
        infra.append(
            priced_line(
                catalog,
                id=id,
                budget="infrastructure",
                service=service,
                item=item,
                price=price,
                quantity=quantity,
                note=note,
            )
        )

    seats = answers.usage.vercel_deploying_seats
    add(
        "vercel",
        "Vercel",
        f"Pro plan, {seats} deploying seat{'s' * (seats > 1)} (front-end hosting)",
        "vercel.pro_seat",
        Range.of(seats),
        "Hobby is non-commercial only; Pro includes $20/month of usage credit",
    )

    rds, az_copies = sizing.rds, 2 if sizing.rds.multi_az else 1
    az_label = "Multi-AZ" if rds.multi_az else "Single-AZ"
    add(
        "rds_instance",
        "RDS PostgreSQL",
        f"{rds.instance_class} ({az_label})",
        f"rds.instance.{rds.instance_class}",
        Range.of(HOURS_PER_MONTH * az_copies),
        "Multi-AZ bills primary and standby" if rds.multi_az else None,
    )
    add(
        "rds_storage",
        "RDS PostgreSQL",
        f"gp3 storage {rds.allocated_storage_gb} GB{' x 2 copies' if rds.multi_az else ''}",
        "rds.storage.gp3",
        Range.of(rds.allocated_storage_gb * az_copies),
    )
    add(
        "rds_backup",
        "RDS PostgreSQL",
        f"backup storage ({rds.backup_retention_days}-day retention)",
        "rds.storage.backup",
        Range.of(0),
        "free up to 100% of provisioned storage, which a 7-day retention of this database stays within",
    )

    cache = sizing.cache
    engine_label = "Valkey" if cache.engine == "valkey" else "Redis OSS"
    add(
        "cache_nodes",
        "ElastiCache",
        f"{engine_label} {cache.node_type} x {cache.nodes} node{'s' * (cache.nodes > 1)}",
        f"cache.node.{cache.engine}.{cache.node_type}",
        Range.of(HOURS_PER_MONTH * cache.nodes),
        "primary plus replicas" if cache.replicas else None,
    )

    s3 = sizing.s3
    add(
        "s3_storage",
        "S3",
        f"Standard storage {s3.storage_gb.low:,.0f} GB",
        "s3.storage.standard",
        s3.storage_gb,
    )
    put_sources = " and ".join(
        label
        for worker, label in (("video_processing", "uploads"), ("data_processing", "exports"))
        if worker in answers.workers
    )
    put_item = f"PUT requests ({put_sources})" if put_sources else "PUT requests"
    exports = sizing.worker_limits.get("data_processing")
    put_note = f"{s3.upload_puts.low:,.0f}-{s3.upload_puts.high:,.0f} upload PUTs (a video and its thumbnail each)"
    if exports is not None:
        runs = next(s.runs_per_month for s in sizing.qstash.schedules if s.worker == "data_processing")
        put_note += (
            f"; {s3.export_puts.low:,.0f} export PUTs ({runs:,.0f} roll-up runs x {exports.days_per_run} days "
            f"each), {s3.export_puts.high:,.0f} with every run retried {sizing.qstash.retries} times"
        )
    add("s3_put", "S3", put_item, "s3.requests.put", s3.put_requests.scale(1 / 1000), put_note)
    add("s3_get", "S3", "GET requests", "s3.requests.get", s3.get_requests.scale(1 / 1000))

    free_egress = catalog.allowance("data_transfer_out_gb_per_month")
    # S3 served to users and what the workers send out through the NAT gateway (its requests, not responses).
    egress = s3.egress_gb + sizing.compute.nat.out_gb
    add(
        "data_transfer",
        "Data transfer",
        "internet egress beyond the free 100 GB",
        "transfer.internet_out",
        egress.minus_allowance(free_egress),
        f"{egress.low:,.1f}-{egress.high:,.1f} GB out (S3 to users, the workers' requests), 100 GB/month free",
    )

    # The always-free Lambda allowance is the account's: the cron function takes its small share first.
    compute = sizing.compute
    free_requests = catalog.allowance("lambda_requests_per_month")
    free_gb_s = catalog.allowance("lambda_gb_seconds_per_month")
    cron_requests = Range.of(compute.cron_invocations)
    cron_gb_s = Range.of(compute.cron_gb_seconds)
    add(
        "lambda_cron_requests",
        "Lambda (cron)",
        f"requests, every {sizing.cron_lambda.every_minutes} min (EventBridge)",
        "lambda.requests",
        cron_requests.minus_allowance(free_requests).scale(1 / 1e6),
        f"{compute.cron_invocations:,.0f} invocations; 1M requests/month free",
    )
    add(
        "lambda_cron_compute",
        "Lambda (cron)",
        f"compute, {sizing.cron_lambda.memory_mb} MB arm64",
        "lambda.compute.arm64",
        cron_gb_s.minus_allowance(free_gb_s),
        f"{compute.cron_gb_seconds:,.0f} GB-s; 400,000 GB-s/month free",
    )
    left_requests = max(0.0, free_requests - compute.cron_invocations)
    left_gb_s = max(0.0, free_gb_s - compute.cron_gb_seconds)
    add(
        "lambda_worker_requests",
        "Lambda (workers)",
        "requests (QStash deliveries and retries)",
        "lambda.requests",
        compute.worker_invocations.minus_allowance(left_requests).scale(1 / 1e6),
        f"{compute.worker_invocations.low:,.0f}-{compute.worker_invocations.high:,.0f} invocations "
        "after the cron's share of the free 1M",
    )
    add(
        "lambda_worker_compute",
        "Lambda (workers)",
        f"compute, {sizing.workers_lambda.memory_mb} MB arm64",
        "lambda.compute.arm64",
        compute.worker_gb_seconds.minus_allowance(left_gb_s),
        f"{compute.worker_gb_seconds.low:,.0f}-{compute.worker_gb_seconds.high:,.0f} GB-s "
        "after the cron's share of the free 400,000",
    )

    nat = sizing.network.nat_gateways
    add(
        "nat_hours",
        "NAT gateway",
        f"{nat} gateway{'s' * (nat > 1)} (workers' egress to Azure AI and QStash)",
        "nat.gateway_hour",
        Range.of(HOURS_PER_MONTH * nat),
        "required: workers in the VPC reach the internet only through it",
    )
    traffic = compute.nat
    add(
        "nat_data",
        "NAT gateway",
        "data processed (model requests and responses, QStash publishes)",
        "nat.data_processed",
        compute.nat_gb,
        f"model calls {traffic.ai_gb.low:,.3f}-{traffic.ai_gb.high:,.3f} GB (tokens x {traffic.bytes_per_token:g} "
        f"bytes + {traffic.request_overhead_bytes:,} bytes of headers per call); "
        f"{traffic.published_messages.low:,.0f}-{traffic.published_messages.high:,.0f} messages published to "
        f"QStash {traffic.qstash_gb.low:,.3f}-{traffic.qstash_gb.high:,.3f} GB",
    )
    add(
        "public_ipv4",
        "NAT gateway",
        f"public IPv4 x {nat}",
        "ec2.public_ipv4",
        Range.of(HOURS_PER_MONTH * nat),
        "one Elastic IP per NAT gateway",
    )

    add(
        "secrets",
        "Secrets Manager",
        f"{sizing.secrets} secrets (RDS-managed master password, app secrets, cache AUTH token)",
        "secretsmanager.secret",
        Range.of(sizing.secrets),
    )
    # Each cold start reads the secrets once; the constant is the share of invocations that start cold.
    calls_per_invocation = rules.constants.secrets_api_calls_per_invocation * sizing.secrets
    calls = (compute.worker_invocations + cron_requests).scale(calls_per_invocation)
    add("secrets_api", "Secrets Manager", "API calls (cold starts)", "secretsmanager.api_calls", calls.scale(1 / 1e4))

    free_alarms = catalog.allowance("cloudwatch_standard_alarms")
    # The quantity is what is billed: say why it can be 0 beside a non-zero count.
    billed = sizing.alarms - free_alarms
    within = "within" if billed <= 0 else f"{billed:g} beyond"
    add(
        "cloudwatch_alarms",
        "CloudWatch",
        f"{sizing.alarms} standard alarms ({within} the {free_alarms:g} free)",
        "cloudwatch.alarm_standard",
        Range.of(sizing.alarms).minus_allowance(free_alarms),
        f"first {free_alarms:g} free",
    )
    add(
        "cloudwatch_logs",
        "CloudWatch",
        "Logs ingestion",
        "cloudwatch.logs_ingestion",
        compute.log_gb.minus_allowance(catalog.allowance("cloudwatch_logs_gb_per_month")),
        f"{compute.log_gb.low:,.2f}-{compute.log_gb.high:,.2f} GB; 5 GB/month free",
    )
    add("budgets", "AWS Budgets", "1 cost budget with e-mail alerts", "budgets.budget", Range.of(1))

    # Each estimate is billed on the cheapest plan that holds it (sizing chose them).
    qstash = sizing.qstash
    low_price_id, low_quantity = _qstash_billing(qstash.plan_low, qstash.messages.low)
    high_price_id, high_quantity = _qstash_billing(qstash.plan, qstash.messages.high)
    same_plan = qstash.plan_low == qstash.plan
    infra.append(
        priced_line(
            catalog,
            id="qstash",
            budget="infrastructure",
            service="Upstash QStash",
            item=f"{qstash.plan} plan" if same_plan else f"{qstash.plan_low} plan (low), {qstash.plan} plan (high)",
            price=catalog.price(high_price_id, region),
            quantity=Range.of(low_quantity, high_quantity),
            note=f"{qstash.messages.low:,.0f}-{qstash.messages.high:,.0f} messages/month: "
            f"{qstash.scheduled_messages:,.0f} schedule ticks, {qstash.fanout_messages:,.0f} fan-out chunks, "
            f"{qstash.event_jobs.low:,.0f}-{qstash.event_jobs.high:,.0f} event jobs, "
            f"{qstash.notifications.low:,.0f}-{qstash.notifications.high:,.0f} notifications "
            f"(high: {qstash.messages_per_day_high:,.0f}/day with {qstash.retries} retries each)",
            low_price=None if same_plan else catalog.price(low_price_id, region),
        )
    )

    ai: list[Line] = []
    for use in sizing.ai:
        for direction, tokens in (("input", use.input_tokens), ("output", use.output_tokens)):
            ai.append(
                priced_line(
                    catalog,
                    id=f"ai_{use.use}_{direction}",
                    budget="ai",
                    service=f"Azure AI {use.model}",
                    item=f"{use.worker} (custom worker), {direction} tokens"
                    if use.custom
                    else f"{use.use} ({use.worker}), {direction} tokens",
                    price=catalog.model_price(use.model, direction),  # type: ignore[arg-type]
                    quantity=tokens.scale(1 / 1e6),
                    note=use.basis,
                )
            )
    return infra + ai


def _qstash_billing(plan: str, messages: float) -> tuple[str, float]:
    """The price a QStash plan bills and the quantity it bills: messages, 100k messages, or one month."""
    if plan == "free":
        return "qstash.free_message", messages
    if plan == "pay-as-you-go":
        return "qstash.payg_100k", messages / 100_000
    return f"qstash.{plan.replace('-', '_')}", 1.0


def verdict_for(limit: Decimal, low: Decimal, high: Decimal, tight_ratio: Decimal) -> Verdict:
    """Never hides an overrun: `fits` and `tight` only when the high estimate is within the budget (tight
    past the tight ratio), `at risk` when only the low one is, `over` when not even the low one is."""
    if low > limit:
        return "over"
    if high > limit:
        return "at risk"
    if high > tight_ratio * limit:
        return "tight"
    return "fits"


def budget_limit(value: float) -> Decimal:
    """A budget answer in dollars and cents."""
    return cents(exact(value))


def totals_for(answers: Answers, lines: list[Line], rules: Rules) -> Totals:
    tight = exact(rules.constants.tight_ratio)

    def total(budget: BudgetName, limit: Decimal) -> BudgetTotal:
        low = sum((line.cost_low for line in lines if line.budget == budget), Decimal(0))
        high = sum((line.cost_high for line in lines if line.budget == budget), Decimal(0))
        return BudgetTotal(
            budget=budget,
            limit=limit,
            low=low,
            high=high,
            headroom_low=limit - low,
            headroom_high=limit - high,
            used_high_pct=round(float(100 * high / limit), 1) if limit else None,
            verdict=verdict_for(limit, low, high, tight),
        )

    infra = total("infrastructure", budget_limit(answers.aws_budget))
    ai = total("ai", budget_limit(answers.ai_budget))
    worst = max((infra.verdict, ai.verdict), key=VERDICT_ORDER.index)
    return Totals(
        infrastructure=infra,
        ai=ai,
        all_low=infra.low + ai.low,
        all_high=infra.high + ai.high,
        verdict=worst,
    )


def aws_lines_cost(lines: list[Line], estimate: Literal["low", "high"]) -> Decimal:
    """The AWS lines of the infrastructure budget at one estimate: the high one is what the AWS budget must hold."""
    return sum(
        (
            line.cost_high if estimate == "high" else line.cost_low
            for line in lines
            if line.budget == "infrastructure" and line.service not in NON_AWS_SERVICES
        ),
        Decimal(0),
    )


def aws_budget_limit(answers: Answers, lines: list[Line]) -> Decimal:
    """What AWS Budgets should watch: the infrastructure budget less what Vercel and Upstash bill."""
    non_aws = sum((line.cost_high for line in lines if line.service in NON_AWS_SERVICES), Decimal(0))
    return max(Decimal("1.00"), budget_limit(answers.aws_budget) - non_aws)
