from __future__ import annotations

import pytest

from generator.answers import Answers
from generator.catalog import Catalog, load_catalog
from generator.plan import Plan, build_plan
from generator.rules import Rules, load_rules


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()


@pytest.fixture(scope="session")
def reference_plan() -> Plan:
    return build_plan(Answers())
