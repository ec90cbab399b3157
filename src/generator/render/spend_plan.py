"""What the rendered plan-vs-actual report (ops/spend.py) compares against: the plan's lines by the name each
service has in AWS Cost Explorer, the QStash message count and the AI figures per worker and model.

Rendered into infra/ops.json (`spend`) and used by infra/stack.yaml (the cost-allocation tag). Money is written
as decimal strings, so the report compares exact figures.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from generator.plan.plan import Plan

# The tag every taggable resource of the stack carries (value: the project slug); once activated as a
# cost-allocation tag, Cost Explorer can filter the account's costs down to this stack's.
COST_TAG_KEY = "project"

# Cost Explorer's SERVICE dimension value for each AWS price family of the catalog (the price id's first
# segment). NAT gateway hours and bytes are billed under "EC2 - Other"; public IPv4 addresses under
# "Amazon Virtual Private Cloud" ("AWS Cost Explorer: filtering and grouping",
# https://docs.aws.amazon.com/cost-management/latest/userguide/ce-filtering.html, and "AWS Public IPv4 Address
# Charge", https://aws.amazon.com/blogs/aws/new-aws-public-ipv4-address-charge-public-ip-insights/, read 2026-11-25).
CE_SERVICES: dict[str, str] = {
    "rds": "Amazon Relational Database Service",
    "cache": "Amazon ElastiCache",
    "s3": "Amazon Simple Storage Service",
    "transfer": "AWS Data Transfer",
    "lambda": "AWS Lambda",
    "nat": "EC2 - Other",
    "ec2.public_ipv4": "Amazon Virtual Private Cloud",
    "secretsmanager": "AWS Secrets Manager",
    "cloudwatch": "AmazonCloudWatch",
    "budgets": "AWS Budgets",
    "elb": "Elastic Load Balancing",
    "alb": "Elastic Load Balancing",
    "ec2": "Amazon Elastic Compute Cloud - Compute",
}
# Lines billed outside AWS: QStash is measured from its own API, the others are fixed at the plan's figure.
NON_AWS_PREFIXES = ("vercel", "qstash", "azure")
# A price per message is a small fraction of a cent: kept to a billionth of a cent.
PER_MESSAGE = Decimal("1e-11")


def _money(value: float | Decimal) -> str:
    return str(Decimal(str(value)))


def ce_service(price_id: str) -> str | None:
    """Cost Explorer's name for the service a price id is billed under (None: not an AWS line)."""
    if price_id.split(".")[0] in NON_AWS_PREFIXES:
        return None
    for prefix in sorted(CE_SERVICES, key=len, reverse=True):
        if price_id == prefix or price_id.startswith(prefix + "."):
            return CE_SERVICES[prefix]
    raise ValueError(f"price {price_id}: no Cost Explorer service known (add it to CE_SERVICES)")


def spend_plan(plan: Plan) -> dict[str, Any]:
    infrastructure = [line for line in plan.lines if line.budget == "infrastructure"]
    services: dict[str, dict[str, Any]] = {}
    fixed: list[dict[str, Any]] = []
    for line in infrastructure:
        service = ce_service(line.price_id)
        if service is None:
            if line.id != "qstash":
                fixed.append({"id": line.id, "service": line.service, "plan_high_usd": _money(line.cost_high)})
            continue
        entry = services.setdefault(
            service, {"service": service, "lines": [], "plan_low_usd": Decimal(0), "plan_high_usd": Decimal(0)}
        )
        entry["lines"].append(line.id)
        entry["plan_low_usd"] += Decimal(str(line.cost_low))
        entry["plan_high_usd"] += Decimal(str(line.cost_high))
    qstash_line = next((line for line in infrastructure if line.id == "qstash"), None)
    messages = plan.sizing.qstash.messages
    usd_per_message = (
        (Decimal(str(qstash_line.cost_high)) / Decimal(str(messages.high))).quantize(PER_MESSAGE)
        if qstash_line is not None and messages.high > 0
        else Decimal(0)
    )
    ai = []
    for use in plan.sizing.ai:
        costs = [line for line in plan.lines if line.id in (f"ai_{use.use}_input", f"ai_{use.use}_output")]
        ai.append(
            {
                "worker": use.worker,
                "model": use.model,
                "lines": [line.id for line in costs],
                "calls_high": round(use.requests.high),
                "input_tokens_high": round(use.input_tokens.high),
                "output_tokens_high": round(use.output_tokens.high),
                "plan_low_usd": _money(sum((Decimal(str(line.cost_low)) for line in costs), Decimal(0))),
                "plan_high_usd": _money(sum((Decimal(str(line.cost_high)) for line in costs), Decimal(0))),
            }
        )
    return {
        "tag": {"key": COST_TAG_KEY, "value": plan.project.slug},
        "infrastructure_budget_usd": _money(plan.totals.infrastructure.limit),
        "ai_budget_usd": _money(plan.totals.ai.limit),
        "aws_services": [
            {**entry, "plan_low_usd": _money(entry["plan_low_usd"]), "plan_high_usd": _money(entry["plan_high_usd"])}
            for entry in services.values()
        ],
        "fixed_lines": fixed,
        "qstash": {
            "line": "qstash",
            "messages_low": round(messages.low),
            "messages_high": round(messages.high),
            "plan_high_usd": _money(qstash_line.cost_high if qstash_line else 0),
            # The plan's price per message (its pay-as-you-go rate; 0 on the free plan).
            "usd_per_message": _money(usd_per_message),
        },
        "ai": ai,
    }
