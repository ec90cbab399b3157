"""What the rendered plan-vs-actual report compares against (infra/ops.json `spend`): every AWS line of the plan
under the Cost Explorer service that bills it, the non-AWS lines apart, the AI figures per worker and model."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generator.plan.answers import parse_answers
from generator.plan.plan import Plan, build_plan
from generator.render.spend_plan import COST_TAG_KEY, ce_service, spend_plan


@pytest.mark.parametrize("users", [50, 2000])
def test_every_infrastructure_line_is_in_exactly_one_place(reference_plan: Plan, users: int) -> None:
    plan = (
        reference_plan
        if users == 50
        else build_plan(parse_answers({"users": users, "aws_budget": 2000, "ai_budget": 20000}))
    )
    spend = spend_plan(plan)
    placed = [line for s in spend["aws_services"] for line in s["lines"]]
    placed += [f["id"] for f in spend["fixed_lines"]] + [spend["qstash"]["line"]]
    infrastructure = [line.id for line in plan.lines if line.budget == "infrastructure"]
    assert sorted(placed) == sorted(infrastructure)
    costs = {line.id: line for line in plan.lines}
    for service in spend["aws_services"]:
        high = sum((Decimal(str(costs[i].cost_high)) for i in service["lines"]), Decimal(0))
        assert Decimal(service["plan_high_usd"]) == high
    assert spend["tag"] == {"key": COST_TAG_KEY, "value": plan.project.slug}


def test_ai_figures_per_worker_and_model(reference_plan: Plan) -> None:
    spend = spend_plan(reference_plan)
    assert {(a["worker"], a["model"]) for a in spend["ai"]} == {(u.worker, u.model) for u in reference_plan.sizing.ai}
    ai_total = sum((Decimal(a["plan_high_usd"]) for a in spend["ai"]), Decimal(0))
    assert ai_total == sum(
        (Decimal(str(line.cost_high)) for line in reference_plan.lines if line.budget == "ai"), Decimal(0)
    )
    assert Decimal(spend["ai_budget_usd"]) == Decimal(str(reference_plan.totals.ai.limit))


def test_cost_explorer_names() -> None:
    assert ce_service("nat.gateway_hour") == "EC2 - Other"
    assert ce_service("ec2.public_ipv4") == "Amazon Virtual Private Cloud"
    assert ce_service("rds.instance.db.t4g.small") == "Amazon Relational Database Service"
    assert ce_service("qstash.payg_100k") is None
    with pytest.raises(ValueError, match="no Cost Explorer service known"):
        ce_service("dynamodb.read")
