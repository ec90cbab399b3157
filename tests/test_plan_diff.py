"""The plan diff `betagen update` prints, and the advice phrased for the command in use (pure, fast)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from generator.plan.advice import advice_line, answer_option
from generator.plan.answers import Answers
from generator.plan.plan import build_plan
from generator.reports.formatting import money_range
from generator.reports.plan_diff import diff_plans


def plan_json(**answers: Any) -> dict[str, Any]:
    return dict(json.loads(build_plan(Answers(**answers)).model_dump_json()))


def test_the_same_plan_has_no_change() -> None:
    diff = diff_plans(plan_json(), plan_json())
    assert not diff.changed and diff.text() == "plan: no change (same lines, totals and sizing)\n"


def test_a_price_change_names_the_line_both_costs_both_prices_and_both_totals() -> None:
    old = plan_json()
    new = json.loads(json.dumps(old))
    nat = next(line for line in new["lines"] if line["id"] == "nat_hours")
    # Amounts are decimal strings in the JSON; an older engine's numbers read the same (below).
    nat["unit_price"], nat["cost_low"], nat["cost_high"] = "0.05", "36.50", "36.50"
    infra_total = new["totals"]["infrastructure"]
    infra_total["low"] = str(Decimal(infra_total["low"]) + Decimal("3.65"))
    infra_total["high"] = str(Decimal(infra_total["high"]) + Decimal("3.65"))
    text = diff_plans(old, new).text()
    assert f"  {nat['service']} | {nat['item']}: $32.85 ($0.045/gateway-hour) -> $36.50 ($0.05/gateway-hour)\n" in text
    infra = old["totals"]["infrastructure"]
    before = money_range(Decimal(infra["low"]), Decimal(infra["high"]))
    after = money_range(Decimal(infra["low"]) + Decimal("3.65"), Decimal(infra["high"]) + Decimal("3.65"))
    assert f"Infrastructure (AWS + Vercel + Upstash): {before} of $300.00 (fits) -> {after} of $300.00 (fits)" in text
    assert text.count("\n  ") == 2  # the one line and the one total: nothing else changed


def test_more_users_name_the_answer_the_sizing_and_the_verdicts() -> None:
    old, new = plan_json(), plan_json(users=2000, aws_budget=2000, ai_budget=20000)
    diff = diff_plans(old, new)
    assert ("users", "50", "2000") in {(c.what, c.before, c.after) for c in diff.answers}
    sizing = {c.what: (c.before, c.after) for c in diff.sizing}
    for path, label in (
        (("rds", "instance_class"), "RDS instance class"),
        (("network", "nat_gateways"), "NAT gateways"),
        (("workers_lambda", "reserved_concurrency"), "worker concurrency"),
    ):
        before, after = old["sizing"][path[0]][path[1]], new["sizing"][path[0]][path[1]]
        assert sizing.get(label) == ((str(before), str(after)) if before != after else None), label
    assert diff.lines and all(c.before != c.after for c in diff.lines)


def test_an_older_plan_with_amounts_as_numbers_reads_the_same_as_decimal_strings() -> None:
    new = plan_json()
    old = json.loads(json.dumps(new))
    for line in old["lines"]:
        for key in ("unit_price", "cost_low", "cost_high"):
            line[key] = float(line[key])
    for budget in ("infrastructure", "ai"):
        for key in ("limit", "low", "high", "headroom_low", "headroom_high"):
            old["totals"][budget][key] = float(old["totals"][budget][key])
    assert isinstance(new["lines"][0]["cost_low"], str)
    assert not diff_plans(old, new).changed
    old["lines"][0]["cost_low"] = float(new["lines"][0]["cost_low"]) + 0.01
    changed = diff_plans(old, new).lines
    assert [c.what for c in changed] == [f"{new['lines'][0]['service']} | {new['lines'][0]['item']}"]


def test_a_plan_from_an_older_engine_without_some_fields_still_diffs() -> None:
    old = plan_json()
    del old["sizing"]["network"], old["totals"]["ai"]
    text = diff_plans(old, plan_json()).text()
    assert "NAT gateways: (none) -> 1" in text and "Azure AI: (none) -> " in text


@pytest.mark.parametrize(
    ("syntax", "users", "budget"),
    [("estimate", "--users 500", "--aws-budget"), ("set", "--set users=500", "--set aws_budget="),
     ("copier", "-d users=500", "-d aws_budget=")],
)  # fmt: skip
def test_advice_is_phrased_in_the_syntax_of_the_command_in_use(syntax: str, users: str, budget: str) -> None:
    advice = {"overruns": ["x"], "change": "--users 500", "change_answers": {"users": 500}, "raise_budgets": {}}
    advice["raise_budgets"] = {"aws_budget": 611}
    line = advice_line(advice, syntax)
    assert f"Cheapest change that fits the high estimate: {users} (or raise {budget}" in line
    assert answer_option("workers", ("a", "b"), syntax) in {"--workers a,b", "--set workers=[a,b]", "-d workers=[a,b]"}


def test_the_plan_phrases_its_own_advice_for_each_command() -> None:
    plan = build_plan(Answers(users=5000))
    assert plan.advice is not None
    assert "Cheapest change that fits the high estimate: --users " in plan.advice.one_line()
    assert "Cheapest change that fits the high estimate: --set users=" in plan.advice.one_line("set")
    assert "Cheapest change that fits the high estimate: -d users=" in plan.advice.one_line("copier")
    with pytest.raises(ValueError, match="answer syntax"):
        plan.advice.one_line("make")
