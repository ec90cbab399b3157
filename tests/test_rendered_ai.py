"""The rendered app calls Azure AI Foundry through its OpenAI v1 endpoint only (app/ai.py, one POST with httpx; the
`openai` SDK is a dev dependency of the deploy's preflight, kept out of the Lambda package): the retired Azure AI
Inference SDK (`azure-ai-inference`, retired 2026-08-26) is neither imported nor depended on, the env example
and the docs name the v1 variables, and QUICK-START lists every deployment the plan calls."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from copier import run_copy

from generator.render.project import template_root

pytestmark = pytest.mark.slow

ROOT = template_root()
RETIRED_PACKAGE = "azure-ai-inference"
AI_VARS = ("AZURE_OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_TIMEOUT_SECONDS", "AZURE_OPENAI_MAX_RETRIES")


def _render(dest: Path, **answers: Any) -> Path:
    run_copy(str(ROOT), str(dest), data=answers, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    return dest


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].lower()


def _imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("ai") / "beta")


def test_no_python_file_of_the_render_imports_an_azure_sdk(reference: Path) -> None:
    sources = sorted(path for path in reference.rglob("*.py") if ".git" not in path.parts)
    assert any(path.relative_to(reference).as_posix() == "app/ai.py" for path in sources)
    for path in sources:
        text = path.read_text(encoding="utf-8")
        azure = sorted(m for m in _imported_modules(text) if m == "azure" or m.startswith("azure."))
        assert not azure, f"{path.relative_to(reference)} imports {azure}"
        assert "azure.ai.inference" not in text, path.relative_to(reference)
    ai_imports = _imported_modules((reference / "app" / "ai.py").read_text(encoding="utf-8"))
    assert "httpx" in ai_imports
    assert not {m for m in ai_imports if m == "openai" or m.startswith("openai.")}  # ~0.27 s on a cold start


def test_the_rendered_dependencies_have_httpx_openai_for_dev_only_and_not_the_retired_sdk(reference: Path) -> None:
    project = tomllib.loads((reference / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(requirement) for requirement in project["dependencies"]}
    assert "httpx" in runtime
    assert "openai" not in runtime  # 30 MB of the Lambda package that no function imports
    assert "openai" in {_name(r) for r in project["optional-dependencies"]["dev"]}  # ops/azure_check.py
    everything = runtime | {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    assert RETIRED_PACKAGE not in everything


def test_the_root_test_extra_carries_the_rendered_runtime(reference: Path) -> None:
    # The template's tests run each rendered suite in this project's environment.
    rendered = tomllib.loads((reference / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    own = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    available = {_name(r) for r in own["dependencies"]} | {_name(r) for r in own["optional-dependencies"]["test"]}
    missing = sorted({_name(r) for r in rendered["dependencies"]} - available)
    assert not missing, f"rendered runtime dependencies missing from the root test extra: {missing}"
    assert RETIRED_PACKAGE not in available


def test_the_env_example_names_the_v1_variables_and_the_plans_deployments(reference: Path) -> None:
    example = (reference / ".env.production.local.example").read_text(encoding="utf-8")
    for name in AI_VARS:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), name
    assert "AZURE_AI_" not in example
    assert "/openai/v1/" in example and ".services.ai.azure.com/models" not in example
    plan = json.loads((reference / "app" / "plan.json").read_text(encoding="utf-8"))
    models = {worker["model"] for worker in plan["workers"] if worker.get("model")}
    assert models, "the reference plan calls models"
    quick_start = (reference / "QUICK-START.md").read_text(encoding="utf-8")
    for model in models:
        assert f"`{model}` (" in quick_start, model
        assert model in example


def test_a_plan_without_ai_workers_asks_for_no_deployment(tmp_path: Path) -> None:
    out = _render(tmp_path / "no-ai", workers=["data_processing"])
    plan = json.loads((out / "app" / "plan.json").read_text(encoding="utf-8"))
    assert not [worker for worker in plan["workers"] if worker.get("model")]
    assert "Foundry resource with one deployment per model" not in (out / "QUICK-START.md").read_text(encoding="utf-8")
    assert "none (no worker of this plan calls a model)" in (out / ".env.production.local.example").read_text(
        encoding="utf-8"
    )
    assert json.loads((out / "infra" / "ops.json").read_text(encoding="utf-8"))["needs_azure_ai"] is False
