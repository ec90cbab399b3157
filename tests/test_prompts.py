"""The budget questions, answered through copier's own prompts in a real terminal (tmux).

The budgets are checked where they are given: an over-budget answer is refused at the question with the
overrun and the cheapest change, in the syntax of the command in use, and the questionnaire goes on, so
nothing typed is lost. A default budget the plan overruns is not offered (copier validates a default
before asking, and a failure there would end the questionnaire).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.plan.answers import Answers
from generator.plan.plan import build_plan
from generator.render.project import template_root
from generator.reports.formatting import money_range

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal"),
]
BIN = Path(sys.executable).parent
AWS_QUESTION, AI_QUESTION = "Monthly infrastructure budget in USD", "Monthly Azure AI budget in USD"
# Every answer but the budgets, given in a file: the budgets are the questions left to ask.
NOT_BUDGETS = {
    name: value
    for name, value in {**Answers().model_dump(mode="json"), "usage": {}}.items()
    if not name.endswith("budget")
}


class Terminal:
    """A command in a tmux window: what it shows, and keys typed into it."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.name = f"betagen-test-{uuid.uuid4().hex[:8]}"
        script = f"{command}; echo EXIT=$?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "400", "-y", "60", "-c", str(cwd), script],
            check=True,
        )

    def screen(self) -> str:
        shown = subprocess.run(
            ["tmux", "capture-pane", "-p", "-J", "-t", self.name], capture_output=True, text=True, check=True
        )
        return shown.stdout

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never shown; the screen:\n{self.screen()}")

    def type(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def answer(self, text: str) -> None:
        """Clear the prompt's input (a default shows there), type TEXT, press Enter."""
        self.type("C-u")
        self.type("-l", text)
        self.type("Enter")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False, capture_output=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def answers_file(folder: Path, **answers: Any) -> Path:
    path = folder / "answers.yml"
    path.write_text(yaml.safe_dump({**NOT_BUDGETS, **answers}))
    return path


def raise_to(users: int, budget: str) -> int:
    """The budget that fits USERS (what the advice says to raise it to)."""
    plan = build_plan(Answers(users=users))
    assert plan.advice is not None
    return int(plan.advice.raise_budgets[budget])


def last_input(screen: str, question: str) -> str:
    """What the prompt's input line below QUESTION holds."""
    lines = screen.splitlines()
    index = max(i for i, line in enumerate(lines) if question in line)
    return lines[index + 1].strip() if index + 1 < len(lines) else ""


def test_copier_refuses_an_over_budget_plan_at_each_budget_question(tmp_path: Path, terminals: list[Terminal]) -> None:
    # Both default budgets are over for this many users ($300 of infrastructure, $1,000 of Azure AI).
    users = 20_000
    answers = answers_file(tmp_path, users=users)
    plan = build_plan(Answers(users=users))
    terminal = Terminal(
        f"env XDG_CACHE_HOME={tmp_path / 'cache'} {BIN / 'copier'} copy --trust --vcs-ref HEAD "
        f"--data-file {answers} {template_root()} out",
        tmp_path,
    )
    terminals.append(terminal)

    screen = terminal.wait_for(AWS_QUESTION)
    infrastructure = plan.totals.infrastructure
    assert f"this plan: {money_range(infrastructure.low, infrastructure.high)} a month" in screen
    assert last_input(screen, AWS_QUESTION) == ""  # the default $300 is over: not offered
    terminal.answer("300")
    screen = terminal.wait_for(r"Validation error for question 'aws_budget'")
    refused = next(line for line in screen.splitlines() if "Validation error for question 'aws_budget'" in line)
    assert f"exceeds the aws_budget of $300.00 by ${infrastructure.low - 300:,.2f}" in refused
    assert "Cheapest change that fits the high estimate: -d users=" in refused and "--users" not in refused
    assert f"raise -d aws_budget={math.ceil(infrastructure.high)}" in refused
    assert "ai_budget" not in refused  # asked next: it does not limit this answer

    terminal.answer(str(raise_to(users, "aws_budget")))
    screen = terminal.wait_for(AI_QUESTION)
    assert last_input(screen, AI_QUESTION) == ""
    terminal.answer("1000")
    screen = terminal.wait_for(r"Validation error for question 'ai_budget'")
    assert "exceeds the ai_budget of $1,000.00" in screen and "-d " in screen
    terminal.answer(str(raise_to(users, "ai_budget")))
    terminal.wait_for(r"EXIT=0", timeout=120)

    recorded = yaml.safe_load((tmp_path / "out" / ".copier-answers.yml").read_text())
    assert recorded["users"] == users and recorded["project_name"] == NOT_BUDGETS["project_name"]
    assert recorded["aws_budget"] == raise_to(users, "aws_budget")
    assert recorded["ai_budget"] == raise_to(users, "ai_budget")


def test_betagen_new_offers_a_default_that_fits_and_refuses_a_budget_that_does_not(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    answers = answers_file(tmp_path, users=50)
    terminal = Terminal(
        f"env XDG_CACHE_HOME={tmp_path / 'cache'} {BIN / 'betagen'} new out --answers {answers}", tmp_path
    )
    terminals.append(terminal)

    screen = terminal.wait_for(AWS_QUESTION)
    assert last_input(screen, AWS_QUESTION) == "300.0"  # the default fits: offered, and Enter keeps it
    terminal.type("Enter")
    terminal.wait_for(AI_QUESTION)
    terminal.answer("2")  # the reference expects about $4 of Azure AI a month
    screen = terminal.wait_for(r"Validation error for question 'ai_budget'")
    refused = next(line for line in screen.splitlines() if "Validation error for question 'ai_budget'" in line)
    assert "exceeds the ai_budget of $2.00" in refused
    assert "Cheapest change that fits the high estimate: --set " in refused and "-d " not in refused
    terminal.answer("1000")
    screen = terminal.wait_for(r"EXIT=\d+", timeout=120)
    assert "EXIT=0" in screen and "(fits)" in screen

    recorded = yaml.safe_load((tmp_path / "out" / ".copier-answers.yml").read_text())
    assert (recorded["aws_budget"], recorded["ai_budget"], recorded["users"]) == (300, 1000, 50)
