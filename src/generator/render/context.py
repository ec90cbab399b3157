"""The engine's interface to copier's hooks and to `betagen update`: from copier's context to the plan.

Copier renders every file (and every segment of every path) with a fresh context, so plans are cached per
set of answers. The hooks reach this module through engine_loader, one copy per template version: its
imports of `generator.*` stay at module level (see engine_loader).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from generator.errors import AnswerError
from generator.plan.advice import ANSWER_SYNTAXES
from generator.plan.answers import Answers, parse_answers
from generator.plan.plan import Plan, build_plan
from generator.render.spend_plan import spend_plan
from generator.reports.formatting import money_range

# The command driving copier, so advice names changes in its syntax (`betagen new` and `update` set it to
# "set"; plain copier leaves it unset).
ANSWER_SYNTAX_VARIABLE = "BETAGEN_ANSWER_SYNTAX"
# Where the rendered project records the plan it was rendered from (template/.betagen/plan.json.jinja).
PLAN_RECORD = ".betagen/plan.json"
# A budget no plan reaches: stands for a budget the user has not been asked yet.
UNANSWERED_BUDGET = 10**12


def answers_from_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's answers among copier's context (which also holds copier's own keys)."""
    return {name: context[name] for name in Answers.model_fields if name in context}


def plan_for(raw_answers: Mapping[str, Any]) -> Plan:
    """The plan for these answers; the same answers (however spelled) share one computed plan."""
    return _context(raw_answers)[0]


def plan_record(raw_answers: Mapping[str, Any]) -> str:
    """The plan as the project records it: `betagen estimate --format json` for the same answers."""
    return str(_context(raw_answers)[1]["plan_json"])


def template_context(raw_answers: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates get besides the answers: the plan and what is rendered from it."""
    return _context(raw_answers)[1]


def answer_syntax() -> str:
    syntax = os.environ.get(ANSWER_SYNTAX_VARIABLE, "copier")
    return syntax if syntax in ANSWER_SYNTAXES else "copier"


def advice_line(plan: Plan) -> str:
    """The over-budget line, in the syntax of the command driving copier ('' when the plan fits)."""
    return plan.advice.one_line(answer_syntax()) if plan.advice else ""


def budget_error(raw_answers: Mapping[str, Any], budget: str) -> str:
    """The over-budget line for one budget ('infrastructure' or 'ai'), or '' when it is not over.

    Invalid answers report nothing here: their own validators say what is wrong. The other budget, while
    not answered yet (copier asks aws_budget first), does not limit this one's check.
    """
    other = "ai_budget" if budget == "infrastructure" else "aws_budget"
    if other not in raw_answers:
        raw_answers = {**raw_answers, other: UNANSWERED_BUDGET}
    try:
        plan = plan_for(raw_answers)
    except AnswerError:
        return ""
    if any(t.budget == budget for t in plan.totals.over()):
        return advice_line(plan)
    return ""


def default_budget_is_over(raw_answers: Mapping[str, Any], field: str) -> bool:
    """Whether the budget FIELD at its default leaves these answers over that budget.

    Copier validates a question's default before it asks, and a failed check there ends the questionnaire:
    an over-budget default is not offered (copier.yml), so the user types a budget the validator checks.
    """
    default = Answers.model_fields[field].get_default(call_default_factory=True)
    budget = "infrastructure" if field == "aws_budget" else "ai"
    return bool(budget_error({**raw_answers, field: default}, budget))


def budget_cost(raw_answers: Mapping[str, Any], budget: str) -> str:
    """'$low-$high a month' for one budget of these answers ('' while they are invalid)."""
    try:
        total = getattr(plan_for(raw_answers).totals, budget)
    except AnswerError:
        return ""
    return f"{money_range(total.low, total.high)} a month"


def _context(raw_answers: Mapping[str, Any]) -> tuple[Plan, dict[str, Any]]:
    # Keyed first on the answers as given (cheap: copier builds a context per path segment), then on the
    # validated answers, so spellings of the same answers share one plan.
    try:
        key = json.dumps(raw_answers, sort_keys=True)
    except TypeError:
        return _cached(parse_answers(raw_answers).model_dump_json())
    return _by_raw(key)


@lru_cache(maxsize=64)
def _by_raw(key: str) -> tuple[Plan, dict[str, Any]]:
    return _cached(parse_answers(json.loads(key)).model_dump_json())


@lru_cache(maxsize=32)
def _cached(answers_json: str) -> tuple[Plan, dict[str, Any]]:
    plan = build_plan(Answers.model_validate_json(answers_json))
    extra = {
        "plan": plan,
        "plan_json": plan.model_dump_json(indent=2) + "\n",
        "worker_manifest_json": json.dumps(plan.worker_manifest(), indent=2) + "\n",
        # infra/ops.json's `spend` and the stack's cost-allocation tag (ops/spend.py reads them).
        "spend_plan": spend_plan(plan),
    }
    return plan, extra
