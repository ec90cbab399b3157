"""Copier context hook: computes the plan from the answers and gives it to every template.

The plan engine is this template version's own (hooks/engine.py): in `copier update` the old version's
hook prices the old side with the old prices and rules, the new version's hook the new side. Copier runs
this hook while prompting (with partial answers) and once per rendered file: only the render phase
computes anything, and plans are cached per set of answers.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from copier.errors import UserMessageError
from copier_template_extensions import ContextHook

ENGINE = runpy.run_path(str(Path(__file__).with_name("engine.py")))["load"]()
render_context = ENGINE.module("render.context")
UserError = ENGINE.module("errors").UserError


class PlanContext(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        # Only while rendering files: while prompting, the answers are partial, and copier's prompts may
        # run where its phase reads "undefined".
        if str(context.get("_copier_phase")) != "render":
            return
        try:
            extra = render_context.template_context(render_context.answers_from_context(context))
        except UserError as exc:
            raise UserMessageError(f"betagen: {exc}") from None
        if extra["plan"].advice and extra["plan"].advice.refuses:
            # Over budget or capacity (a default budget under --defaults is checked here; a plan only at risk
            # renders): stop before anything is written (copier removes a destination it created).
            raise UserMessageError(f"betagen: {render_context.advice_line(extra['plan'])}")
        context.update(extra)
