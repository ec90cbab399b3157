"""Reads the YAML data shipped in generator/data: prices and rules, the engine's knowledge apart from its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# The C loader parses the catalog several times faster; fall back when PyYAML was built without libyaml.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(name: str) -> Any:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)
