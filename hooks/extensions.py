"""Jinja filters and globals for copier.yml and the templates, backed by the plan engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from jinja2 import Environment, pass_context  # noqa: E402
from jinja2.ext import Extension  # noqa: E402

from generator import formatting, markdown  # noqa: E402
from generator.answers import (  # noqa: E402
    Answers,
    check_answer,
    slugify,
)
from generator.catalog import load_catalog  # noqa: E402
from generator.render_context import answers_from_context, budget_cost, budget_error  # noqa: E402


@pass_context
def _budget_error(context: Any, budget: str) -> str:
    return budget_error(answers_from_context(context), budget)


@pass_context
def _budget_cost(context: Any, budget: str) -> str:
    return budget_cost(answers_from_context(context), budget)


def _default(field: str) -> Any:
    return Answers.model_fields[field].get_default(call_default_factory=True)


class BetagenExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(
            betagen_check=lambda value, field: check_answer(field, value),
            betagen_slug=slugify,
            money=formatting.money,
            money_range=formatting.money_range,
            unit_price=formatting.unit_price,
            quantity=formatting.quantity,
            percent=formatting.percent,
            percent_of=lambda share: f"{share:.0%}",
            budget_table=markdown.budget_table,
            totals_table=markdown.totals_table,
            hosting_table=markdown.hosting_table,
            scaling_table=markdown.scaling_table,
            corrections_table=markdown.corrections_table,
            sources_table=markdown.sources_table,
        )
        environment.globals.update(
            betagen_budget_error=_budget_error,
            betagen_cost=_budget_cost,
            betagen_default=_default,
            betagen_regions=load_catalog().regions,
            catalog=load_catalog(),
        )
