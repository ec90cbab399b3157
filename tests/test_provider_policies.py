"""The provider rules rendered into every project (infra/policies/, cfn-lint custom rules): each one fires on
the stack as rendered before the provider review (2026-11-25), each one fires on a fresh render into which
only its own finding is put back, and none fires on a fresh render."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from generator.plan.plan import Plan
from generator.render.project import checked_plan, new_project

pytestmark = pytest.mark.slow

BEFORE_REVIEW = Path(__file__).parent / "fixtures" / "stack-before-provider-review.yaml"
POLICIES = {
    "function_url_permissions.py": "E9001",
    "reserved_concurrency.py": "E9002",
    "database_deletion_protection.py": "E9003",
    "retain_except_on_create.py": "E9004",
    "engine_versions.py": "E9005",
    "secret_names.py": "W9006",
}
RENDERS = {
    "reference": {},
    "growth-redis": {
        "project_name": "growth-redis",
        "users": 2000,
        "aws_budget": 2000,
        "ai_budget": 20000,
        "cache_engine": "redis",
    },
}


@pytest.fixture(scope="module", params=sorted(RENDERS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan]:
    answers = RENDERS[request.param]
    dest = tmp_path_factory.mktemp(request.param) / "repo"
    new_project(dest, answers, defaults=True)
    return dest, checked_plan(answers)


def _fired(root: Path, template: str) -> set[str]:
    """The ids of the project's own rules (custom range 9000-9999) cfn-lint reports on `template`."""
    config = ManualArgs(append_rules=[str(root / "infra/policies")], regions=["us-east-1"])
    return {match.rule.id for match in lint(template, config=config) if match.rule.id[1:].startswith("9")}


def _replace_once(pattern: str, replacement: str, text: str) -> str:
    changed, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"the mutation {pattern!r} matched {count} times"
    return changed


def _without_invoke_permission(text: str, plan: Plan) -> str:
    return _replace_once(r"^  WorkersUrlInvokePermission:\n(?:    .*\n)+\n", "", text)


def _invoke_permission_on_another_qualifier(text: str, plan: Plan) -> str:
    block = re.search(r"^  WorkersUrlInvokePermission:\n(?:    .*\n)+", text, flags=re.MULTILINE)
    assert block
    moved = block[0].replace('"${WorkersFunction.Arn}:live"', '"${WorkersFunction.Arn}"')
    assert moved != block[0]
    return text.replace(block[0], moved)


def _fixed_reserved_concurrency(text: str, plan: Plan) -> str:
    value = plan.sizing.workers_lambda.reserved_concurrency
    return _replace_once(r"^(      ReservedConcurrentExecutions: ).*$", rf"\g<1>{value}", text)


def _bare_reserved_concurrency_parameter(text: str, plan: Plan) -> str:
    return _replace_once(r"^(      ReservedConcurrentExecutions: ).*$", r"\1!Ref ReservedConcurrency", text)


def _literal_deletion_protection(text: str, plan: Plan) -> str:
    return _replace_once(r"^(      DeletionProtection: ).*$", r"\1true", text)


def _retained_bucket(text: str, plan: Plan) -> str:
    return _replace_once(r"^(    DeletionPolicy: )RetainExceptOnCreate$", r"\1Retain", text)


def _database_minor_literal(text: str, plan: Plan) -> str:
    minor = f"{plan.sizing.rds.engine_version}.4"
    return _replace_once(r"^(      EngineVersion: )!Ref DatabaseEngineVersion$", rf'\g<1>"{minor}"', text)


def _database_minor_default(text: str, plan: Plan) -> str:
    major = plan.sizing.rds.engine_version
    default = rf'^(  DatabaseEngineVersion:\n    Type: String\n    Default: )"{major}"$'
    return _replace_once(default, rf'\1"{major}.4"', text)


def _cache_literal(text: str, plan: Plan) -> str:
    version = plan.sizing.cache.engine_version
    return _replace_once(r"^(      EngineVersion: )!Ref CacheEngineVersion$", rf'\g<1>"{version}"', text)


def _named_secret(text: str, plan: Plan) -> str:
    slug = plan.project.slug
    # The resource may carry comments (checkov skips) between its type and its properties.
    properties = r"^(  AppSecret:\n    Type: AWS::SecretsManager::Secret\n(?:    #.*\n)*    Properties:\n)"
    return _replace_once(properties, rf"\g<1>      Name: {slug}/app\n", text)


MUTATIONS: dict[str, tuple[str, Callable[[str, Plan], str]]] = {
    "url-without-invoke-permission": ("E9001", _without_invoke_permission),
    "invoke-permission-on-another-qualifier": ("E9001", _invoke_permission_on_another_qualifier),
    "fixed-reserved-concurrency": ("E9002", _fixed_reserved_concurrency),
    "unconditional-reserved-concurrency": ("E9002", _bare_reserved_concurrency_parameter),
    "literal-deletion-protection": ("E9003", _literal_deletion_protection),
    "retained-bucket": ("E9004", _retained_bucket),
    "database-minor-literal": ("E9005", _database_minor_literal),
    "database-minor-default": ("E9005", _database_minor_default),
    "cache-version-literal": ("E9005", _cache_literal),
    "named-secret": ("W9006", _named_secret),
}


def test_every_policy_is_rendered_and_cites_its_source(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    modules = {path.name: path for path in (root / "infra/policies").glob("*.py")}
    assert set(modules) == set(POLICIES)
    for name, path in modules.items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert doc.startswith(f"{POLICIES[name]}:"), name
        assert "checked 2026-11-25" in doc and "https://docs.aws.amazon.com/" in doc, name
    assert {rule for rule, _ in MUTATIONS.values()} == set(POLICIES.values())  # every rule has its own case


def test_every_policy_fires_on_the_stack_before_the_review(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    assert _fired(root, BEFORE_REVIEW.read_text(encoding="utf-8")) == set(POLICIES.values())


def test_no_policy_fires_on_a_fresh_render(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    assert _fired(root, (root / "infra/stack.yaml").read_text(encoding="utf-8")) == set()


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_policy_catches_its_own_finding_put_back(rendered: tuple[Path, Plan], mutation: str) -> None:
    root, plan = rendered
    rule, mutate = MUTATIONS[mutation]
    fresh = (root / "infra/stack.yaml").read_text(encoding="utf-8")
    mutated = mutate(fresh, plan)
    assert mutated != fresh
    assert _fired(root, mutated) == {rule}
