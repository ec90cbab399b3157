"""copier.yml asks about the workers rules.yaml specifies: its choices and model questions follow the specs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.plan.answers import WORKERS, Answers
from generator.plan.rules import Rules

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def questions() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return data


def test_worker_choices_are_the_reference_specs(questions: dict[str, Any], rules: Rules) -> None:
    choices: dict[str, str] = questions["workers"]["choices"]
    # The same workers in the same order: the specs, the answers model and the question.
    assert list(choices.values()) == list(rules.workers) == list(WORKERS)
    for label, name in choices.items():
        spec = rules.workers[name]
        found = re.fullmatch(r"(?P<title>[^(]+) \((?P<trigger>event|cron); (?P<what>.+)\)", label)
        assert found, label
        assert found["title"] == spec.title, name
        assert found["trigger"] == spec.trigger, name
        # A worker that calls a model says which one it uses (a vision use: the multimodal model); one that does
        # not names no model.
        if spec.model_use:
            word = "multimodal" if "vision" in rules.model_uses[spec.model_use].needs else spec.model_use
            assert f"{word} model" in found["what"], label
        else:
            assert "model" not in found["what"], label
    assert questions["workers"]["default"] == list(Answers().workers)


def test_each_model_question_is_a_workers_model_use(questions: dict[str, Any], rules: Rules) -> None:
    asked = {name.removesuffix("_model") for name in questions if name.endswith("_model")}
    assert asked == set(rules.model_uses), "one model question per model use"
    for use, spec in rules.model_uses.items():
        question = questions[f"{use}_model"]
        # Asked only when the worker that uses it is chosen, listing the models fit for that use.
        assert question["when"] == f"{{{{ '{spec.worker}' in workers }}}}", use
        assert rules.workers[spec.worker].model_use == use
        assert f"betagen_models('{use}')" in question["help"], use
        assert question["validator"] == f"{{{{ {use}_model | betagen_check('{use}_model') }}}}", use
        assert question["default"] == Answers().model_for(use), use
    # And every worker with a model use is asked about through that question.
    assert {w.model_use for w in rules.workers.values() if w.model_use} == set(rules.model_uses)


def test_custom_workers_question(questions: dict[str, Any]) -> None:
    question = questions["custom_workers"]
    assert question["type"] == "yaml" and question["default"] == []
    assert question["validator"] == "{{ custom_workers | betagen_check('custom_workers') }}"
    # The help teaches every key an item takes.
    for key in (
        "name",
        "trigger",
        "schedule",
        "model",
        "calls_per_user_per_month",
        "input_tokens",
        "output_tokens",
        "payload_example",
    ):
        assert key in question["help"], key
    # Asked before the budgets, whose validators price the plan with the custom workers in it.
    order = [name for name in questions if not name.startswith("_")]
    assert order.index("custom_workers") < order.index("aws_budget") < order.index("ai_budget")
