"""Budget: a priced line per item of the sized stack, totals per budget, headroom and verdicts.

Every line's cost is its billable quantity times one catalog unit price, for the low and the high
estimate; free allowances are subtracted from the quantity, never hidden in the price.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog, UnitPrice
from generator.plan.rules import Rules
from generator.plan.sizing import HOURS_PER_MONTH, Range, Sizing

BudgetName = Literal["infrastructure", "ai"]
Verdict = Literal["fits", "tight", "over"]
VERDICT_ORDER: tuple[Verdict, ...] = ("fits", "tight", "over")

# Infrastructure lines billed by someone other than AWS: AWS Budgets cannot see them.
NON_AWS_SERVICES = ("Vercel", "Upstash QStash")


class Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    budget: BudgetName
    service: str
    item: str
    quantity_low: float
    quantity_high: float
    unit: str
    unit_price: float
    cost_low: float
    cost_high: float
    price_id: str
    sources: tuple[str, ...]
    source_urls: tuple[str, ...]
    as_of: str
    confidence: str
    derivation: str | None = None
    note: str | None = None


class BudgetTotal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    budget: BudgetName
    limit: float
    low: float
    high: float
    headroom_low: float
    headroom_high: float
    used_high_pct: float | None
    verdict: Verdict


class Totals(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    infrastructure: BudgetTotal
    ai: BudgetTotal
    all_low: float
    all_high: float
    verdict: Verdict

    def over(self) -> list[BudgetTotal]:
        return [t for t in (self.infrastructure, self.ai) if t.verdict == "over"]


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
) -> Line:
    return Line(
        id=id,
        budget=budget,
        service=service,
        item=item,
        quantity_low=round(quantity.low, 6),
        quantity_high=round(quantity.high, 6),
        unit=price.unit,
        unit_price=price.usd,
        cost_low=round(round(quantity.low, 6) * price.usd, 4),
        cost_high=round(round(quantity.high, 6) * price.usd, 4),
        price_id=price.id,
        sources=price.sources,
        source_urls=tuple(catalog.sources[s].url for s in price.sources),
        as_of=price.as_of,
        confidence=price.confidence,
        derivation=price.derivation,
        note=note,
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

    qstash = sizing.qstash
    if qstash.plan == "free":
        qstash_price, quantity = "qstash.free_message", qstash.messages
    elif qstash.plan == "pay-as-you-go":
        qstash_price, quantity = "qstash.payg_100k", qstash.messages.scale(1 / 100_000)
    else:
        qstash_price, quantity = f"qstash.{qstash.plan.replace('-', '_')}", Range.of(1)
    add(
        "qstash",
        "Upstash QStash",
        f"{qstash.plan} plan",
        qstash_price,
        quantity,
        f"{qstash.messages.low:,.0f}-{qstash.messages.high:,.0f} messages/month: "
        f"{qstash.scheduled_messages:,.0f} schedule ticks, {qstash.fanout_messages:,.0f} fan-out chunks, "
        f"{qstash.event_jobs.low:,.0f}-{qstash.event_jobs.high:,.0f} event jobs, "
        f"{qstash.notifications.low:,.0f}-{qstash.notifications.high:,.0f} notifications "
        f"(high: {qstash.messages_per_day_high:,.0f}/day with {qstash.retries} retries each)",
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
                    item=f"{use.use} ({use.worker}), {direction} tokens",
                    price=catalog.model_price(use.model, direction),  # type: ignore[arg-type]
                    quantity=tokens.scale(1 / 1e6),
                    note=use.basis,
                )
            )
    return infra + ai


def verdict_for(limit: float, low: float, high: float, tight_ratio: float) -> Verdict:
    """Over when even the low estimate exceeds the budget; tight when the high one passes the tight ratio."""
    if low > limit + 1e-9:
        return "over"
    if high > tight_ratio * limit + 1e-9:
        return "tight"
    return "fits"


def totals_for(answers: Answers, lines: list[Line], rules: Rules) -> Totals:
    tight = rules.constants.tight_ratio

    def total(budget: BudgetName, limit: float) -> BudgetTotal:
        low = round(sum(line.cost_low for line in lines if line.budget == budget), 2)
        high = round(sum(line.cost_high for line in lines if line.budget == budget), 2)
        return BudgetTotal(
            budget=budget,
            limit=limit,
            low=low,
            high=high,
            headroom_low=round(limit - low, 2),
            headroom_high=round(limit - high, 2),
            used_high_pct=round(100 * high / limit, 1) if limit else None,
            verdict=verdict_for(limit, low, high, tight),
        )

    infra = total("infrastructure", answers.aws_budget)
    ai = total("ai", answers.ai_budget)
    worst = max((infra.verdict, ai.verdict), key=VERDICT_ORDER.index)
    return Totals(
        infrastructure=infra,
        ai=ai,
        all_low=round(infra.low + ai.low, 2),
        all_high=round(infra.high + ai.high, 2),
        verdict=worst,
    )


def aws_budget_limit(answers: Answers, lines: list[Line]) -> float:
    """What AWS Budgets should watch: the infrastructure budget less what Vercel and Upstash bill."""
    non_aws = sum(line.cost_high for line in lines if line.service in NON_AWS_SERVICES)
    return round(max(1.0, answers.aws_budget - non_aws), 2)
