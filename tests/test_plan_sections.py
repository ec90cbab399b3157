"""Hosting comparison, scaling table, corrections to the reference, over-budget advice, golden JSON."""

from __future__ import annotations

import json
import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from generator.plan.answers import Answers
from generator.plan.plan import Plan, build_plan

GOLDEN = Path(__file__).parent / "golden" / "reference-plan.json"


def test_reference_plan_json_matches_golden(reference_plan: Plan) -> None:
    text = reference_plan.model_dump_json(indent=2) + "\n"
    if os.environ.get("BETAGEN_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), "run with BETAGEN_UPDATE_GOLDEN=1 after a deliberate change"


def test_plan_json_round_trips(reference_plan: Plan) -> None:
    again = Plan.model_validate(json.loads(reference_plan.model_dump_json()))
    assert again == reference_plan


def test_hosting_comparison_prices_each_option(reference_plan: Plan) -> None:
    options = {o.id: o for o in reference_plan.hosting_comparison}
    assert set(options) == {"ecs_fargate", "ec2_spot", "lambda", "qstash_lambda"}
    cent = Decimal("0.01")
    # Four always-on 1 vCPU / 2 GB x86 tasks, to the cent.
    fargate = 4 * 730 * (Decimal("0.04048") + 2 * Decimal("0.004445"))
    assert options["ecs_fargate"].monthly_high == fargate.quantize(cent, ROUND_HALF_UP)
    # Four t4g.medium at 90% and 50% off.
    assert options["ec2_spot"].monthly_low == (4 * 730 * Decimal("0.0336") * Decimal("0.1")).quantize(
        cent, ROUND_HALF_UP
    )
    assert options["qstash_lambda"].chosen and sum(o.chosen for o in options.values()) == 1
    assert options["qstash_lambda"].monthly_high < options["ecs_fargate"].monthly_low


def test_scaling_table_goes_to_ten_times(reference_plan: Plan) -> None:
    assert [row.users for row in reference_plan.scaling] == [50, 100, 250, 500]
    highs = [row.infrastructure_high for row in reference_plan.scaling]
    assert highs == sorted(highs)
    near_cap = build_plan(Answers(users=40_000, aws_budget=50_000, ai_budget=100_000))
    assert near_cap.scaling[-1].users == 100_000


def test_reference_corrections(reference_plan: Plan) -> None:
    found = {c.id: c for c in reference_plan.corrections}
    for expected in ("vercel_hobby", "rds_small", "s3_150gb", "lambda_cron", "qstash", "multi_az", "vpc_nat"):
        assert found[expected].verdict in ("too high", "wrong plan"), expected
    # db.t4g.small Single-AZ, 730 h x $0.032, plus 20 GB of gp3 at $0.115.
    assert found["rds_small"].ours_low == Decimal("23.36") + Decimal("2.30")
    assert found["s3_150gb"].ours_high is not None and found["s3_150gb"].ours_high < 15
    assert found["lambda_cron"].ours_high == 0
    assert found["vercel_elasticache"].verdict == "cannot work" and "non-commercial" in found["vercel_hobby"].reason
    # DeepSeek-V3 at ~$34 is right at the reference's volume: no claim of its own.
    assert "deepseek_v3" not in found
    # The reference's claims are priced on the models it chose: R1 at a quarter of the volume is ~$10 (holds).
    assert found["deepseek_r1"].verdict == "holds"
    # Its retired models are listed with their retirement and the model this plan uses instead.
    assert "2026-08-13" in found["model_alerts"].reason and "DeepSeek-V4-Pro" in found["model_alerts"].reason
    assert "This plan uses DeepSeek-V3.2" in found["model_trends"].reason
    assert "model_video" not in found  # Phi-4-multimodal-instruct is generally available


def test_a_claim_that_holds_in_a_region_is_a_row_that_says_so() -> None:
    # Tokyo: db.t4g.small is 1.56x and gp3 $0.138, so "$35-45" is right there.
    tokyo = {c.id: c for c in build_plan(Answers(aws_region="ap-northeast-1")).corrections}
    assert tokyo["rds_small"].verdict == "holds"


def test_over_budget_names_the_overrun_and_a_change_that_fits() -> None:
    plan = build_plan(Answers(users=5000, aws_budget=100))
    assert plan.totals.verdict == "over" and plan.advice is not None
    line = plan.advice.one_line()
    assert "infrastructure" in line and "exceeds the aws_budget of $100.00" in line
    assert plan.advice.change_answers and "users" in plan.advice.change_answers
    assert plan.advice.raise_budgets["aws_budget"] >= plan.totals.infrastructure.high


def test_ai_overrun_suggests_a_cheaper_model_first_when_it_fits_the_high_estimate() -> None:
    # 500 users: about $40-$204 of Azure AI a month; a cheaper model brings the high end under $190.
    answers = Answers(users=500, ai_budget=190)
    plan = build_plan(answers)
    assert plan.totals.ai.verdict == "at risk" and plan.advice is not None and plan.advice.change_answers
    assert {"alerts_model", "trends_model"} & set(plan.advice.change_answers)
    changed = build_plan(answers.model_copy(update=plan.advice.change_answers)).totals.ai
    assert changed.high <= changed.limit


def test_a_cheaper_model_that_fits_only_the_low_estimate_is_not_the_advice() -> None:
    # At $30 a cheaper model would bring the low estimate ($40) within budget, never the high one: fewer users.
    answers = Answers(users=500, ai_budget=30)
    plan = build_plan(answers)
    assert plan.advice is not None and plan.advice.change_answers is not None
    assert set(plan.advice.change_answers) == {"users"} and plan.advice.change_fits_high
    changed = build_plan(answers.model_copy(update=plan.advice.change_answers)).totals.ai
    assert changed.high <= changed.limit
