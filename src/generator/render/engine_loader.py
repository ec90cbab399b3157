"""The plan engine of one template version, loaded beside every other version in the same process.

`copier update` renders the project's old template version and the new one in one process, each through
its own hooks/; `betagen update` prices the new version before copier runs. Each must use the engine
(code, prices and rules) of its own version, so the engine is not imported by name from sys.path (the
first copy imported would serve every version) but from a folder:

- the folder is found by `engine_folder`: `src/generator` in the template's root (a checkout, or the
  clone copier makes), else the `generator` package beside the template (an installed wheel, where the
  template is the `betagen_template` folder in site-packages);
- it is keyed by a digest of its files (code and data), so two clones of one version share one engine;
- the process's own `generator` package serves when its files have that digest; any other version is
  copied into a content-addressed folder of the user's cache (which outlives copier's temporary clones,
  and keeps its bytecode between runs) and imported from there with the `generator*` entries of
  sys.modules set aside and restored afterwards, under a lock.

Everything an engine needs is imported while it loads (ENTRY_MODULES and what they import), so its
modules import `generator.*` at module level only: an import inside a function would run later, when
another version's modules may be the ones in sys.modules (tests/test_render_path.py checks this).

This module uses the standard library only: hooks/engine.py loads it by path before any engine exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE = "generator"
# The engine's interface to the hooks and to `betagen update`, and everything they import.
ENTRY_MODULES = (
    "errors",
    "plan.answers",
    "plan.catalog",
    "plan.rules",
    "plan.plan",
    "reports.formatting",
    "reports.markdown",
    "render.context",
)
# A module every copy of this file shares (hooks load their own copy per template version); a change to
# what it holds takes a new name.
REGISTRY = "betagen_engine_registry_v1"


@dataclass(frozen=True)
class Engine:
    """One version's plan engine: its modules by name within the package (`engine.module("plan.plan").build_plan`)."""

    folder: Path
    digest: str
    modules: dict[str, ModuleType] = field(repr=False)
    # Every module of the package the load imported (empty for the process's own package).
    loaded: tuple[str, ...] = ()

    def module(self, name: str) -> ModuleType:
        return self.modules[name]


def engine_folder(template_root: Path) -> Path:
    """Where the engine of the template in TEMPLATE_ROOT (the folder holding copier.yml) lives."""
    in_checkout = template_root / "src" / PACKAGE
    if (in_checkout / "__init__.py").is_file():
        return in_checkout
    beside = template_root.parent / PACKAGE
    if (beside / "__init__.py").is_file():
        return beside
    raise FileNotFoundError(f"no plan engine for the template in {template_root}: neither {in_checkout} nor {beside}")


def digest_of(folder: Path) -> str:
    """The engine's identity: every file's path and bytes (bytecode excluded)."""
    digest = hashlib.sha256()
    for path in _files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_engine(folder: Path) -> Engine:
    """The engine in FOLDER, imported once per process and content."""
    folder = folder.resolve()
    digest = digest_of(folder)
    registry = _registry()
    with registry.lock:
        engine: Engine | None = registry.engines.get(digest)
        if engine is None:
            engine = _host_engine(digest) or _import_isolated(_kept_copy(folder, digest), digest)
            registry.engines[digest] = engine
        return engine


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG base directory spec: a relative path is invalid and is ignored.
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "betagen"


# --- internals ---------------------------------------------------------------------------------------


class _Registry(ModuleType):
    lock: threading.Lock
    engines: dict[str, Engine]
    host_digest: str | None


def _registry() -> _Registry:
    registry = sys.modules.get(REGISTRY)
    if registry is None:
        registry = _Registry(REGISTRY, "betagen's loaded plan engines, by content digest")
        registry.lock = threading.Lock()
        registry.engines = {}
        registry.host_digest = None
        # setdefault: two threads creating it at once still end up sharing one.
        registry = sys.modules.setdefault(REGISTRY, registry)
    return registry  # type: ignore[return-value]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _host_engine(digest: str) -> Engine | None:
    """The process's own `generator`, when it is this version: no second copy of the same code."""
    host = sys.modules.get(PACKAGE)
    if host is None or host.__file__ is None:
        return None
    folder = Path(host.__file__).resolve().parent
    registry = _registry()
    if registry.host_digest is None:
        registry.host_digest = digest_of(folder)
    if registry.host_digest != digest:
        return None
    modules = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in ENTRY_MODULES}
    return Engine(folder=folder, digest=digest, modules=modules)


def _kept_copy(folder: Path, digest: str) -> Path:
    """A copy of FOLDER that lives as long as the user's cache: copier removes its clones after a render."""
    for base in (cache_root() / "engines", Path(tempfile.gettempdir()) / f"betagen-engines-{os.getuid()}"):
        kept = base / digest[:32] / PACKAGE
        if kept.is_dir() and digest_of(kept) == digest:
            return kept
        with contextlib.suppress(OSError):
            return _copy_once(folder, kept)
    raise OSError(f"cannot keep a copy of the plan engine in {folder}: no writable cache or temporary folder")


def _copy_once(folder: Path, kept: Path) -> Path:
    """Copy into a fresh folder, then rename it into place: a concurrent run sees all of it or none."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=kept.parent, prefix=".staging-"))
    try:
        shutil.copytree(folder, staging / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if kept.is_dir():  # a damaged copy (its digest differs): replace it
            shutil.rmtree(kept)
        with contextlib.suppress(OSError):  # another run renamed its identical copy first
            os.rename(staging / PACKAGE, kept)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return kept


class _EngineFinder(importlib.abc.MetaPathFinder):
    """Finds `generator` in one folder only, ahead of any other finder (an editable install's included)."""

    def __init__(self, parent: Path) -> None:
        self.parent = str(parent)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == PACKAGE:
            return importlib.machinery.PathFinder.find_spec(fullname, [self.parent])
        if fullname.startswith(PACKAGE + "."):
            return importlib.machinery.PathFinder.find_spec(fullname, path)
        return None


def _own(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _import_isolated(folder: Path, digest: str) -> Engine:
    set_aside = {name: sys.modules.pop(name) for name in [n for n in sys.modules if _own(n)]}
    finder = _EngineFinder(folder.parent)
    sys.meta_path.insert(0, finder)
    try:
        modules = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in ENTRY_MODULES}
    finally:
        sys.meta_path.remove(finder)
        loaded = tuple(sorted(n for n in sys.modules if _own(n)))
        for name in loaded:
            del sys.modules[name]
        sys.modules.update(set_aside)
    return Engine(folder=folder, digest=digest, modules=modules, loaded=loaded)
