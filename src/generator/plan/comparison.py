"""Worker hosting compared (the reference's table), and the reference's "before" architecture, priced from the
same catalog for the same workload.

The hosting comparison counts only what differs between options: the network, database and cache are the
same for all. The "before" architecture (ECS Fargate + RDS + ElastiCache + ALB + NAT) is priced whole: the
plan's own database, cache, NAT, S3, transfer, secrets and alarm lines, Fargate tasks instead of Vercel,
Lambda and QStash, and the ALB in front of them. Money is Decimal; each amount is rounded to the cent once
and every total is the sum of its rounded parts.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.budget import cents, exact
from generator.plan.catalog import Catalog
from generator.plan.core import PricedPlan
from generator.plan.rules import Rules
from generator.plan.sizing import HOURS_PER_MONTH

TASK_VCPU, TASK_GB = 1, 2
HOURS = Decimal(HOURS_PER_MONTH)
# Lines of the plan the "before" architecture does not have: Vercel hosts the front-end, Lambda and QStash
# run the workers; there, Fargate does both.
NOT_BEFORE = ("Vercel", "Upstash QStash", "Lambda (workers)", "Lambda (cron)")
# Lines of the plan it shares, named on their own in its breakdown; the rest are summed as "other".
SHARED = ("RDS PostgreSQL", "ElastiCache", "NAT gateway")


class HostingOption(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    monthly_low: Decimal
    monthly_high: Decimal
    chosen: bool
    basis: str
    sources: tuple[str, ...]


class CostPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    monthly_low: Decimal
    monthly_high: Decimal
    basis: str


class BeforeArchitecture(BaseModel):
    """The reference's first architecture for the same workload, part by part."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parts: tuple[CostPart, ...]
    monthly_low: Decimal
    monthly_high: Decimal
    sources: tuple[str, ...]


def fargate_task_month(catalog: Catalog, region: str, arch: str) -> Decimal:
    """One always-on task of TASK_VCPU vCPU and TASK_GB GB for a month, unrounded."""
    vcpu = catalog.price(f"fargate.vcpu_hour.{arch}", region)
    gb = catalog.price(f"fargate.gb_hour.{arch}", region)
    return vcpu.cost(HOURS * TASK_VCPU) + gb.cost(HOURS * TASK_GB)


def hosting_comparison(answers: Answers, plan: PricedPlan, catalog: Catalog) -> list[HostingOption]:
    region, workers = answers.aws_region, len(answers.workers)
    ec2 = catalog.price("ec2.instance.t4g.medium", region)
    spot = catalog.discounts["ec2_spot"]
    ec2_month = ec2.cost(HOURS * workers)
    lambda_low, lambda_high = plan.cost(
        "lambda_worker_requests", "lambda_worker_compute", "lambda_cron_requests", "lambda_cron_compute"
    )
    qstash_low, qstash_high = plan.cost("qstash")
    fargate_sources = tuple(catalog.price("fargate.vcpu_hour.x86", region).sources)
    lambda_sources = catalog.price("lambda.compute.arm64", region).sources
    return [
        HostingOption(
            id="ecs_fargate",
            name="ECS Fargate, always on",
            monthly_low=cents(workers * fargate_task_month(catalog, region, "arm64")),
            monthly_high=cents(workers * fargate_task_month(catalog, region, "x86")),
            chosen=False,
            basis=f"{workers} task(s), one per worker, {TASK_VCPU} vCPU / {TASK_GB} GB around the clock (Arm to x86)",
            sources=fargate_sources,
        ),
        HostingOption(
            id="ec2_spot",
            name="EC2 Spot",
            monthly_low=cents(ec2_month * (1 - exact(spot.high))),
            monthly_high=cents(ec2_month * (1 - exact(spot.low))),
            chosen=False,
            basis=f"{workers} t4g.medium instance(s) at {spot.low:.0%}-{spot.high:.0%} off on-demand; "
            "Spot can be reclaimed at short notice",
            sources=(*ec2.sources, *spot.sources),
        ),
        HostingOption(
            id="lambda",
            name="Lambda, direct triggers",
            monthly_low=lambda_low,
            monthly_high=lambda_high,
            chosen=False,
            basis="the same invocations and GB-seconds, after the free allowance; "
            "no managed retries, DLQ or schedules without more AWS services",
            sources=lambda_sources,
        ),
        HostingOption(
            id="qstash_lambda",
            name="QStash-driven Lambda (rendered)",
            monthly_low=lambda_low + qstash_low,
            monthly_high=lambda_high + qstash_high,
            chosen=True,
            basis="Lambda as above plus QStash messages: signed deliveries, retries, DLQ and cron schedules",
            sources=(*lambda_sources, "U1"),
        ),
    ]


def before_architecture(answers: Answers, plan: PricedPlan, catalog: Catalog, rules: Rules) -> BeforeArchitecture:
    """ECS Fargate + RDS + ElastiCache + ALB + NAT for the workload `plan` sizes, in the answers' region."""
    region, spec = answers.aws_region, rules.before_architecture
    workers = next(o for o in hosting_comparison(answers, plan, catalog) if o.id == "ecs_fargate")
    web_low = cents(spec.web_tasks * fargate_task_month(catalog, region, "arm64"))
    web_high = cents(spec.web_tasks * fargate_task_month(catalog, region, "x86"))

    alb_hour = catalog.price("elb.alb_hour", region)
    lcu = catalog.price("elb.alb_lcu_hour", region)
    ipv4 = catalog.price("ec2.public_ipv4", region)
    zones = spec.alb_availability_zones
    fixed = alb_hour.cost(HOURS) + ipv4.cost(HOURS * zones)
    # LCU-hours a month: GB processed a month over the GB one LCU processes in an hour.
    served = plan.sizing.s3.egress_gb
    lcu_hours = served.scale(1 / spec.alb_gb_per_lcu_hour)
    lcu_low, lcu_high = lcu.cost(exact(lcu_hours.low)), lcu.cost(exact(lcu_hours.high))

    parts = [
        CostPart(
            name="ECS Fargate, web",
            monthly_low=web_low,
            monthly_high=web_high,
            basis=f"{spec.web_tasks} tasks (one per AZ behind the ALB), {TASK_VCPU} vCPU / {TASK_GB} GB, Arm to x86",
        ),
        CostPart(
            name="ECS Fargate, workers",
            monthly_low=workers.monthly_low,
            monthly_high=workers.monthly_high,
            basis=workers.basis,
        ),
        CostPart(
            name="ALB",
            monthly_low=cents(fixed + lcu_low),
            monthly_high=cents(fixed + lcu_high),
            basis=f"{HOURS_PER_MONTH} hours, {zones} public IPv4 addresses (one per AZ), "
            f"{lcu_hours.low:,.0f}-{lcu_hours.high:,.0f} LCU-hours for the users' "
            f"{served.low:,.0f}-{served.high:,.0f} GB a month ({spec.alb_gb_per_lcu_hour:g} GB per LCU-hour)",
        ),
    ]
    for service in SHARED:
        low, high = plan.service_cost(service)
        parts.append(CostPart(name=service, monthly_low=low, monthly_high=high, basis="as in this plan"))
    other = [
        line for line in plan.lines if line.budget == "infrastructure" and line.service not in (*NOT_BEFORE, *SHARED)
    ]
    parts.append(
        CostPart(
            name="S3, transfer, secrets, CloudWatch, Budgets",
            monthly_low=sum((line.cost_low for line in other), Decimal(0)),
            monthly_high=sum((line.cost_high for line in other), Decimal(0)),
            basis="as in this plan",
        )
    )
    sources = (*workers.sources, *alb_hour.sources, *lcu.sources, *ipv4.sources)
    return BeforeArchitecture(
        parts=tuple(parts),
        monthly_low=sum((p.monthly_low for p in parts), Decimal(0)),
        monthly_high=sum((p.monthly_high for p in parts), Decimal(0)),
        sources=tuple(dict.fromkeys(sources)),
    )
