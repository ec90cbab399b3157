"""Copier context hook: computes the plan from the answers and gives it to every template.

The plan engine lives beside this template in src/generator and needs only pydantic and PyYAML, which
copier's own environment has. Copier runs this hook while prompting (with partial answers) and once per
rendered file: only the render phase computes anything, and plans are cached per set of answers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from copier.errors import UserMessageError  # noqa: E402
from copier_template_extensions import ContextHook  # noqa: E402

from generator.errors import UserError  # noqa: E402
from generator.render_context import answers_from_context, template_context  # noqa: E402


class PlanContext(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        # Only while rendering files: while prompting, the answers are partial, and copier's prompts may
        # run where its phase reads "undefined".
        if str(context.get("_copier_phase")) != "render":
            return
        try:
            extra = template_context(answers_from_context(context))
        except UserError as exc:
            raise UserMessageError(f"betagen: {exc}") from None
        plan = extra["plan"]
        if plan.advice:
            # Over budget: stop before anything is written (copier removes a destination it created).
            raise UserMessageError(f"betagen: {plan.advice.one_line()}")
        context.update(extra)
