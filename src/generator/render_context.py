"""From copier's context to the plan, once per set of answers (copier renders every file separately)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from generator.answers import Answers, parse_answers
from generator.errors import AnswerError
from generator.plan import Plan, build_plan


def answers_from_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's answers among copier's context (which also holds copier's own keys)."""
    return {name: context[name] for name in Answers.model_fields if name in context}


def plan_for(raw_answers: Mapping[str, Any]) -> Plan:
    """The plan for these answers; the same answers (however spelled) share one computed plan."""
    return _cached(parse_answers(raw_answers).model_dump_json())[0]


@lru_cache(maxsize=32)
def _cached(answers_json: str) -> tuple[Plan, dict[str, Any]]:
    plan = build_plan(Answers.model_validate_json(answers_json))
    extra = {
        "plan": plan,
        "worker_manifest_json": json.dumps(plan.worker_manifest(), indent=2) + "\n",
    }
    return plan, extra


def budget_error(raw_answers: Mapping[str, Any], budget: str) -> str:
    """The over-budget line for one budget ('infrastructure' or 'ai'), or '' when it is not over.

    Invalid answers report nothing here: their own validators say what is wrong.
    """
    try:
        plan = plan_for(raw_answers)
    except AnswerError:
        return ""
    if plan.advice and any(t.budget == budget for t in plan.totals.over()):
        return plan.advice.one_line()
    return ""


def budget_cost(raw_answers: Mapping[str, Any], budget: str) -> str:
    """'$low-$high a month' for one budget of these answers ('' while they are invalid)."""
    from generator.formatting import money_range

    try:
        total = getattr(plan_for(raw_answers).totals, budget)
    except AnswerError:
        return ""
    return f"{money_range(total.low, total.high)} a month"


def template_context(raw_answers: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates get besides the answers: the plan and what is rendered from it."""
    return _cached(parse_answers(raw_answers).model_dump_json())[1]
