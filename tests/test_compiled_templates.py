"""Compiled templates kept between renders (hooks/compiled_templates.py, Jinja's public bytecode cache):
a render from the cache writes the same bytes as one without, and a changed template is never served from it.
"""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest
from copier import run_copy

from generator.render.engine_loader import digest_of, engine_folder
from generator.render.project import template_root

pytestmark = pytest.mark.slow
ROOT = template_root()
CACHE = runpy.run_path(str(ROOT / "hooks" / "compiled_templates.py"))


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """The template as a plain folder (copier renders it without cloning), with its engine."""
    folder = tmp_path / "template"
    ignore = shutil.ignore_patterns("__pycache__", ".ruff_cache")
    for part in ("template", "hooks", "src/generator"):
        shutil.copytree(ROOT / part, folder / part, ignore=ignore)
    shutil.copy(ROOT / "copier.yml", folder)
    return folder


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return Path(CACHE["cache_dir"]())


def render(template: Path, dest: Path, **answers: Any) -> dict[str, bytes]:
    run_copy(str(template), str(dest), data=answers, defaults=True, unsafe=True, quiet=True)
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}


def test_a_render_from_the_cache_writes_the_same_bytes(
    template: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = render(template, tmp_path / "cold")
    kept = sorted(cache.glob("*.jinja-cache"))
    assert len(kept) >= 10  # every template file of the reference
    assert render(template, tmp_path / "warm") == cold
    for entry in kept:
        entry.write_bytes(b"\x00damaged")
    assert render(template, tmp_path / "damaged") == cold
    blocked = tmp_path / "a-file"
    blocked.write_text("where the cache folder would go\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert render(template, tmp_path / "uncached") == cold


def test_a_changed_template_is_never_served_from_the_cache(template: Path, tmp_path: Path, cache: Path) -> None:
    render(template, tmp_path / "first")
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nChanged in v2: {{ users }} users.\n")
    second = render(template, tmp_path / "second")
    assert second["README.md"].endswith(b"Changed in v2: 50 users.\n")


def test_the_key_follows_the_engine_the_hooks_and_copier_yml(template: Path) -> None:
    digest = digest_of(engine_folder(template))
    before = CACHE["fingerprint"](template, digest)
    assert CACHE["fingerprint"](template, digest) == before
    assert CACHE["fingerprint"](template, "another engine") != before
    for edited in (template / "copier.yml", template / "hooks" / "extensions.py"):
        edited.write_text(edited.read_text() + "\n# changed\n")
        assert CACHE["fingerprint"](template, digest) != before
