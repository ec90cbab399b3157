"""Budget advice: every suggested change is priced again and must bring the HIGH estimate within budget, or
the advice says that only the low one fits; a plan at risk is advised but not refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from generator.cli.commands import main
from generator.plan.advice import advice_line, advice_refuses
from generator.plan.answers import Answers
from generator.plan.core import price_plan
from generator.plan.plan import build_plan


def between(low: Decimal, high: Decimal) -> float:
    """A budget the low estimate fits and the high one does not."""
    budget = ((low + high) / 2).quantize(Decimal("0.01"))
    assert low < budget < high
    return float(budget)


def test_a_budget_between_low_and_high_is_at_risk_with_advice_that_fits_the_high_estimate() -> None:
    infra = price_plan(Answers(users=500, aws_budget=100_000, ai_budget=100_000)).totals.infrastructure
    answers = Answers(users=500, aws_budget=between(infra.low, infra.high), ai_budget=100_000)
    plan = build_plan(answers)
    assert plan.totals.infrastructure.verdict == "at risk" == plan.totals.verdict
    advice = plan.advice
    assert advice is not None and not advice.refuses and advice.overruns == () and len(advice.at_risk) == 1
    assert advice.change_answers and advice.change_fits_high
    changed = price_plan(answers.model_copy(update=advice.change_answers)).totals
    assert changed.high_fits() and changed.infrastructure.high <= changed.infrastructure.limit
    assert advice.raise_budgets == {"aws_budget": int(infra.high.to_integral_value(rounding="ROUND_CEILING"))}
    line = advice.one_line()
    assert line.startswith("at risk: infrastructure ") and "Cheapest change that fits the high estimate" in line
    overrun = infra.high - Decimal(repr(answers.aws_budget))
    assert f"exceeds the aws_budget of ${answers.aws_budget:,.2f} by ${overrun:,.2f}" in line


def test_an_ai_budget_a_cheaper_model_fits_only_at_the_low_end_is_not_advised_that_model() -> None:
    """The issue's case: a cheaper model that leaves the high estimate over the budget is no answer."""
    answers = Answers(ai_budget=20)
    plan = build_plan(answers)
    assert plan.totals.ai.verdict in ("at risk", "over") and plan.advice is not None
    assert plan.advice.change_answers is not None
    changed = price_plan(answers.model_copy(update=plan.advice.change_answers)).totals
    assert changed.ai.high <= changed.ai.limit


def test_when_no_change_fits_the_high_estimate_the_advice_says_only_the_low_one_fits() -> None:
    # A budget between one user's low and high AI estimates: fewer users can bring the low one within it,
    # nothing brings the high one (one user is the fewest, and each worker alone costs more).
    one = price_plan(Answers(users=1, ai_budget=100_000)).totals.ai
    answers = Answers(users=50, ai_budget=between(one.low, one.high))
    plan = build_plan(answers)
    advice = plan.advice
    assert plan.totals.ai.verdict == "over" and advice is not None and advice.refuses
    assert advice.change_answers is not None and not advice.change_fits_high
    changed = price_plan(answers.model_copy(update=advice.change_answers)).totals
    assert not changed.over() and not changed.high_fits()
    assert "No single change fits the high estimate" in advice.one_line()
    assert "only the low estimate fits" in advice.one_line()


def test_refusal_is_read_from_advice_of_any_engine_version() -> None:
    assert advice_refuses({"overruns": ["x"], "raise_budgets": {}})
    assert advice_refuses({"overruns": [], "capacity": [{"problem": "p"}], "raise_budgets": {}})
    at_risk = {"overruns": [], "at_risk": ["ai $1.00-$3.00/month: ..."], "raise_budgets": {"ai_budget": 3}}
    assert not advice_refuses(at_risk) and not advice_refuses(None)
    assert (
        advice_line(at_risk, "set")
        == "at risk: ai $1.00-$3.00/month: .... Raise --set ai_budget=3 to fit the high estimate"
    )


@pytest.mark.parametrize("users", [5, 50])
def test_a_plan_that_fits_high_has_no_advice(users: int) -> None:
    plan = build_plan(Answers(users=users, aws_budget=100_000, ai_budget=100_000))
    assert plan.advice is None and plan.totals.verdict == "fits"


def test_betagen_new_writes_a_plan_at_risk_then_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ai = price_plan(Answers(ai_budget=100_000)).totals.ai
    budget = between(ai.low, ai.high)
    dest = tmp_path / "beta"
    with pytest.raises(SystemExit) as exited:
        main(["new", str(dest), "--defaults", "--set", f"ai_budget={budget}"])
    out, err = capsys.readouterr()
    assert exited.value.code == 5
    assert (dest / "README.md").is_file() and "Azure AI at risk" in (dest / "README.md").read_text()
    warning = err.splitlines()[-1]  # after a note on the uncommitted template, in a working tree
    assert "(at risk)" in out and warning.startswith("betagen: warning: at risk: ai ") and "--set " in warning
    pros = " ".join((dest / "PROS-CONS.md").read_text().split())
    assert "Inside both budgets" not in pros and "The high estimate exceeds a budget" in pros
