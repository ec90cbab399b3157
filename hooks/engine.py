"""The plan engine of the template version this hooks/ folder belongs to.

In `copier update` the old and the new version's hooks run in one process: each must price with its own
code, prices and rules, so the engine is loaded from this template's own folder (see
src/generator/render/engine_loader.py), never imported by name from sys.path. The hooks run this file with
`runpy.run_path` and call `load()`.
"""

from __future__ import annotations

import hashlib
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Where engine_loader.py is: src/generator in a checkout or in copier's clone; the `generator` package
# beside the template in an installed wheel. engine_loader.engine_folder states the same rule.
CANDIDATES = (ROOT / "src" / "generator", ROOT.parent / "generator")
LOADER = Path("render") / "engine_loader.py"


def _loader() -> ModuleType:
    path = next((c / LOADER for c in CANDIDATES if (c / LOADER).is_file()), None)
    if path is None:
        from copier.errors import UserMessageError

        raise UserMessageError(f"betagen: no plan engine beside the template in {ROOT}")
    source = path.read_bytes()
    # One module per loader version: every version's hooks may share the process.
    name = "betagen_engine_loader_" + hashlib.sha256(source).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None:
        spec = spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


def load() -> Any:
    loader = _loader()
    return loader.load_engine(loader.engine_folder(ROOT))
