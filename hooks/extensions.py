"""Jinja filters and globals for copier.yml and the templates, backed by the plan engine."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.ext import Extension

# This template version's own plan engine (hooks/engine.py), never whichever copy sys.path finds first.
ENGINE = runpy.run_path(str(Path(__file__).with_name("engine.py")))["load"]()
formatting, markdown = ENGINE.module("reports.formatting"), ENGINE.module("reports.markdown")
answers, render_context = ENGINE.module("plan.answers"), ENGINE.module("render.context")
Answers, check_answer, slugify = answers.Answers, answers.check_answer, answers.slugify
load_catalog, load_rules = ENGINE.module("plan.catalog").load_catalog, ENGINE.module("plan.rules").load_rules
answers_from_context, budget_cost, budget_error = (
    render_context.answers_from_context,
    render_context.budget_cost,
    render_context.budget_error,
)


@pass_context
def _budget_error(context: Any, budget: str) -> str:
    return budget_error(answers_from_context(context), budget)


@pass_context
def _default_budget_is_over(context: Any, field: str) -> bool:
    return bool(render_context.default_budget_is_over(answers_from_context(context), field))


@pass_context
def _budget_cost(context: Any, budget: str) -> str:
    return budget_cost(answers_from_context(context), budget)


def _hosting_profiles() -> list[str]:
    """The hosting profiles a render supports (the question is asked only when there is a choice)."""
    return [name for name, profile in load_rules().hosting_profiles.items() if profile.supported]


def _models(use: str) -> list[str]:
    """The models an answer for `use` may name (generally available or not yet retired, fit for the use); every
    such model for '' (a custom worker's)."""
    return load_catalog().available_models(load_rules().model_uses[use].needs if use else ())


def _default(field: str) -> Any:
    return Answers.model_fields[field].get_default(call_default_factory=True)


class BetagenExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # Compiled template files kept between renders (Jinja's public bytecode cache; see the module).
        cache = runpy.run_path(str(Path(__file__).with_name("compiled_templates.py")))["compiled_templates"]
        environment.bytecode_cache = cache(ENGINE.digest)
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
            capacity_table=markdown.capacity_table,
            corrections_table=markdown.corrections_table,
            sources_table=markdown.sources_table,
        )
        environment.globals.update(
            betagen_budget_error=_budget_error,
            betagen_cost=_budget_cost,
            betagen_default=_default,
            betagen_default_budget_is_over=_default_budget_is_over,
            betagen_regions=load_catalog().regions,
            betagen_models=_models,
            betagen_hosting_profiles=_hosting_profiles(),
            catalog=load_catalog(),
        )
