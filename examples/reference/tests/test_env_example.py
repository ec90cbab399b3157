"""The env file example names every variable the service reads, each left empty (secrets are filled
in a copy that git ignores, never in the example)."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import ENV_VARS

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.production.local.example"
_ASSIGNMENT = re.compile(r"(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)")


def _assignments(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ASSIGNMENT.fullmatch(line)
        assert match, f"line {number} is neither a comment nor NAME=value: {line!r}"
        assert match["name"] not in found, f"{match['name']} is set twice"
        found[match["name"]] = match["value"]
    return found


def test_every_setting_is_in_the_env_example_with_an_empty_value() -> None:
    # Deploy and infra scripts may add names of their own: the example must hold at least ours.
    example = _assignments(EXAMPLE.read_text(encoding="utf-8"))
    missing = sorted(set(ENV_VARS) - set(example))
    assert not missing, f"missing from {EXAMPLE.name}: {missing}"
    filled = sorted(name for name in ENV_VARS if example[name])
    assert not filled, f"{EXAMPLE.name} must leave these empty: {filled}"
