from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from generator.plan.answers import Answers
from generator.plan.catalog import Catalog, load_catalog
from generator.plan.plan import Plan, build_plan
from generator.plan.rules import Rules, load_rules


@pytest.fixture(scope="session", autouse=True)
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Renders keep compiled templates and plan engines under XDG_CACHE_HOME: the suite uses its own folder."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()


@pytest.fixture(scope="session")
def reference_plan() -> Plan:
    return build_plan(Answers())
