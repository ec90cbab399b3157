"""Worker hosting compared (the reference's table), priced from the same catalog for the same workload.

Only what differs between options is counted: the network, database and cache are the same for all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog
from generator.plan.core import PricedPlan
from generator.plan.sizing import HOURS_PER_MONTH

TASK_VCPU, TASK_GB = 1, 2


class HostingOption(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    monthly_low: float
    monthly_high: float
    chosen: bool
    basis: str
    sources: tuple[str, ...]


def hosting_comparison(answers: Answers, plan: PricedPlan, catalog: Catalog) -> list[HostingOption]:
    region, workers = answers.aws_region, len(answers.workers)

    def task_month(arch: str) -> float:
        vcpu = catalog.price(f"fargate.vcpu_hour.{arch}", region).usd
        gb = catalog.price(f"fargate.gb_hour.{arch}", region).usd
        return HOURS_PER_MONTH * (TASK_VCPU * vcpu + TASK_GB * gb)

    ec2 = catalog.price("ec2.instance.t4g.medium", region)
    spot = catalog.discounts["ec2_spot"]
    ec2_month = HOURS_PER_MONTH * ec2.usd * workers
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
            monthly_low=round(workers * task_month("arm64"), 2),
            monthly_high=round(workers * task_month("x86"), 2),
            chosen=False,
            basis=f"{workers} task(s), one per worker, {TASK_VCPU} vCPU / {TASK_GB} GB around the clock (Arm to x86)",
            sources=fargate_sources,
        ),
        HostingOption(
            id="ec2_spot",
            name="EC2 Spot",
            monthly_low=round(ec2_month * (1 - spot.high), 2),
            monthly_high=round(ec2_month * (1 - spot.low), 2),
            chosen=False,
            basis=f"{workers} t4g.medium instance(s) at {spot.low:.0%}-{spot.high:.0%} off on-demand; "
            "Spot can be reclaimed at short notice",
            sources=(*ec2.sources, *spot.sources),
        ),
        HostingOption(
            id="lambda",
            name="Lambda, direct triggers",
            monthly_low=round(lambda_low, 2),
            monthly_high=round(lambda_high, 2),
            chosen=False,
            basis="the same invocations and GB-seconds, after the free allowance; "
            "no managed retries, DLQ or schedules without more AWS services",
            sources=lambda_sources,
        ),
        HostingOption(
            id="qstash_lambda",
            name="QStash-driven Lambda (rendered)",
            monthly_low=round(lambda_low + qstash_low, 2),
            monthly_high=round(lambda_high + qstash_high, 2),
            chosen=True,
            basis="Lambda as above plus QStash messages: signed deliveries, retries, DLQ and cron schedules",
            sources=(*lambda_sources, "U1"),
        ),
    ]
