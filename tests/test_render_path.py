"""One render path on copier's public API, and one plan engine per template version.

- No module of ours uses a private copier name: an import of one, an attribute `_x` of a copier module or
  of an object made by copier, or a subclass of a copier class defining a `_x` member. Copier's public API
  is the names its package exports (`copier.__all__`) and `copier.errors`; copier-template-extensions'
  is its package's `__all__`. Read from the source (AST), so a use is found whether or not it still works.
- The engine loader gives each template version its own engine in one process, and the engine's modules
  import `generator.*` at module level only (a later import would find another version's modules).
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import copier
import copier.errors
import copier_template_extensions
import pytest
from pydantic import BaseModel

import generator
from generator.render.engine_loader import Engine, digest_of, engine_folder, load_engine
from generator.render.project import template_root

ROOT = template_root()
PUBLIC = {
    "copier": set(copier.__all__) | {"__version__"},
    "copier.errors": {name for name in vars(copier.errors) if not name.startswith("_")},
    "copier_template_extensions": set(copier_template_extensions.__all__),
}
PACKAGES = {name.split(".")[0] for name in PUBLIC}


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_copier_uses(source: str) -> list[str]:
    """Each use of a private copier name in SOURCE, as 'line N: what'."""
    tree = ast.parse(source)
    found: list[str] = []
    copier_names: set[str] = set()  # names bound to copier's modules, classes, functions and their results
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    if alias.name not in PUBLIC:
                        found.append(f"line {node.lineno}: import {alias.name}")
                    copier_names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                if node.module not in PUBLIC or alias.name not in PUBLIC[node.module]:
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                copier_names.add(alias.asname or alias.name)
    grown = True
    while grown:  # follow what copier's names make: `w = run_copy(...)`, `with X() as w`, `except E as e`
        before = len(copier_names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _root(node.value) in copier_names:
                copier_names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.withitem) and _root(node.context_expr) in copier_names:
                if isinstance(node.optional_vars, ast.Name):
                    copier_names.add(node.optional_vars.id)
            elif isinstance(node, ast.ExceptHandler) and node.type is not None and node.name:
                types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                if any(_root(t) in copier_names for t in types):
                    copier_names.add(node.name)
        grown = len(copier_names) > before
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and _root(node.value) in copier_names:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ClassDef) and any(_root(base) in copier_names for base in node.bases):
            for item in node.body:
                names = (
                    [item.name]
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    else [t.id for t in getattr(item, "targets", []) if isinstance(t, ast.Name)]
                )
                found += [f"line {item.lineno}: {node.name} overrides {n}" for n in names if _private(n)]
    return found


def our_modules() -> Iterator[Path]:
    for folder in ("src", "hooks", "tests", "benchmarks"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_module_of_ours_uses_a_private_copier_name() -> None:
    problems = {
        str(path.relative_to(ROOT)): found
        for path in our_modules()
        if (found := private_copier_uses(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from copier._main import Worker", "from copier._main import Worker"),
        ("import copier._vcs", "import copier._vcs"),
        ("from copier import Worker", "from copier import Worker"),  # copier's root keeps it only as deprecated
        ("from copier.main import run_copy", "from copier.main import run_copy"),
        ("import copier\ncopier._main.Worker", "copier._main"),
        ("from copier import run_copy\nw = run_copy('a', 'b')\nw._render_template()", "w._render_template"),
        ("from copier import run_copy\nwith run_copy('a') as w:\n    w.template._cleanup()", "w.template._cleanup"),
        ("from copier.errors import CopierError\nclass E(CopierError):\n    def _x(self): ...", "E overrides _x"),
        ("from copier_template_extensions._internal.loader import X", "copier_template_extensions._internal"),
    ],
)
def test_the_scan_finds_each_kind_of_private_use(source: str, expected: str) -> None:
    found = private_copier_uses(source)
    assert found and any(expected in problem for problem in found), found


def test_the_scan_accepts_copiers_public_api() -> None:
    source = (
        "from copier import run_copy, run_update, VcsRef\nfrom copier.errors import UserMessageError\n"
        "from copier_template_extensions import ContextHook\n"
        "class Hook(ContextHook):\n    def hook(self, context): ...\n"
        "try:\n    run_copy('a', 'b')\nexcept UserMessageError as exc:\n    print(exc.message)\n"
    )
    assert private_copier_uses(source) == []


# --- one engine per template version -----------------------------------------------------------------


def engine_copy(into: Path, nat_price: str | None = None) -> Path:
    folder = into / "generator"
    shutil.copytree(engine_folder(ROOT), folder, ignore=shutil.ignore_patterns("__pycache__"))
    if nat_price:
        prices = folder / "data" / "prices.yaml"
        text = prices.read_text()
        block = re.search(r"\n  nat\.gateway_hour:\n(?:    .*\n)+", text)
        assert block
        prices.write_text(text.replace(block.group(0), block.group(0).replace("usd: 0.045,", f"usd: {nat_price},")))
    return folder


def nat_hour_price(engine: Engine) -> float:
    plan = engine.module("render.context").plan_for({})
    return float(next(line.unit_price for line in plan.lines if line.id == "nat_hours"))


def test_two_versions_price_side_by_side_and_the_process_keeps_its_own(tmp_path: Path) -> None:
    host = sys.modules["generator"]
    v1 = load_engine(engine_copy(tmp_path / "v1"))
    v2 = load_engine(engine_copy(tmp_path / "v2", nat_price="0.05"))
    assert v1.folder == Path(generator.__file__).resolve().parent  # same files: the process's own package
    assert v2.digest != v1.digest and v2.loaded  # imported apart
    assert (nat_hour_price(v1), nat_hour_price(v2)) == (0.045, 0.05)
    assert sys.modules["generator"] is host and not any(m.__file__.startswith(str(v2.folder)) for m in _ours())
    # The same files elsewhere (another clone of v2) are the same engine; the copy outlives the clone.
    again = load_engine(engine_copy(tmp_path / "v2-again", nat_price="0.05"))
    assert again is v2
    shutil.rmtree(tmp_path / "v2")
    assert v2.folder.is_dir() and nat_hour_price(v2) == 0.05


def _ours() -> list[object]:
    return [m for name, m in sys.modules.items() if name.split(".")[0] == "generator" and getattr(m, "__file__", None)]


def test_engine_modules_import_the_engine_at_module_level_only(tmp_path: Path) -> None:
    engine = load_engine(engine_copy(tmp_path, nat_price="0.0451"))  # a version of its own: loaded apart
    assert "generator.plan" in engine.loaded and "generator.render.context" in engine.loaded
    late = []
    for name in engine.loaded:
        path = engine.folder.parent / (name.replace(".", "/") + ".py")
        if not path.is_file():
            path = path.with_suffix("") / "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    module = (
                        node.module
                        if isinstance(node, ast.ImportFrom)
                        else ",".join(a.name for a in node.names)
                        if isinstance(node, ast.Import)
                        else ""
                    )
                    if module and module.split(".")[0] == "generator":
                        late.append(f"{name} line {node.lineno}: {module}")
    assert late == []
    # Every model is complete when defined: none resolves a name later, in whichever sys.modules is current.
    incomplete = {
        f"{cls.__module__}.{cls.__name__}"
        for module in engine.modules.values()
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, BaseModel)
        and cls.__module__.startswith("generator.")
        and not cls.__pydantic_complete__
    }
    assert incomplete == set()


def test_the_engine_is_found_beside_the_template_in_a_checkout_and_in_a_wheel(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    engine_copy(checkout / "src")
    assert engine_folder(checkout) == checkout / "src" / "generator"
    site = tmp_path / "site-packages"
    (site / "betagen_template").mkdir(parents=True)
    engine_copy(site)
    assert engine_folder(site / "betagen_template") == site / "generator"
    with pytest.raises(FileNotFoundError, match="no plan engine"):
        engine_folder(tmp_path / "nowhere")
    assert digest_of(checkout / "src" / "generator") == digest_of(site / "generator")


def test_hooks_reach_the_engine_through_their_own_template_only() -> None:
    # An import of `generator` by name would find whichever copy sys.path or sys.modules holds first.
    by_name = [
        f"{path.name} line {node.lineno}"
        for path in sorted((ROOT / "hooks").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "generator")
        or (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "generator" for a in node.names))
    ]
    assert by_name == []
    path_edits = [
        path.name
        for path in sorted((ROOT / "hooks").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "path" and _root(node) == "sys"
    ]
    assert path_edits == []
