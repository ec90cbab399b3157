"""betagen's copier Worker renders exactly what copier's own does, and keeps compiled templates safely."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from copier import run_copy
from copier._main import Worker
from copier.errors import UserMessageError
from plumbum import local

from generator.compiled_templates import ENGINE, cache_dir, template_fingerprint
from generator.copier_worker import NewProjectWorker
from generator.project import template_root, template_snapshot

pytestmark = pytest.mark.slow
# Copier's members the new-project worker overrides: a copier release that drops or renames one would
# leave the override unused (a slower render), so the suite says so.
OVERRIDDEN = [
    "jinja_env",
    "run_copy",
    "answers_relpath",
    "_sync_git_index_executable_bit",
    "_render_template",
    "_render_string",
]
SUBSET = {"workers": ["data_processing", "alert_checker"], "cache_engine": "redis", "aws_region": "eu-west-3"}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return cache_dir()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as `betagen new` gives it to copier: a plain folder (no clone)."""
    return template_snapshot(template_root(), tmp_path_factory.mktemp("template"))


def new_project_render(template: Path, dest: Path, **answers: Any) -> Path:
    with NewProjectWorker(
        src_path=str(template), dst_path=dest, data=answers, defaults=True, unsafe=True, quiet=True
    ) as worker:
        worker.run_copy()
    return dest


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and permission bits, and every folder, by relative path."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<folder>", stat.S_IMODE(p.stat().st_mode))
        for p in sorted(root.rglob("*"))
    }


def test_the_overridden_members_still_exist_in_copier() -> None:
    for name in OVERRIDDEN:
        assert name in NewProjectWorker.__dict__, name
        assert hasattr(Worker, name), f"copier's Worker has no {name} any more: update generator/copier_worker.py"


@pytest.mark.parametrize("answers", [{}, SUBSET], ids=["reference", "subset"])
def test_renders_what_copier_renders_byte_for_byte_and_mode_for_mode(
    template: Path, tmp_path: Path, cache: Path, answers: dict[str, Any]
) -> None:
    theirs = tmp_path / "copier"
    run_copy(str(template), str(theirs), data=dict(answers), defaults=True, unsafe=True, quiet=True)
    ours = new_project_render(template, tmp_path / "ours", **answers)
    warm = new_project_render(template, tmp_path / "warm", **answers)  # from the compiled-template cache
    expected = tree(theirs)
    assert len(expected) > 60
    assert any(mode & stat.S_IXUSR for _, mode in expected.values())  # the ops scripts stay executable
    assert tree(ours) == expected
    assert tree(warm) == expected
    kept = sorted(p.name for p in cache.iterdir())
    assert any(name.endswith(".strings") for name in kept) and sum(n.endswith(".jinja-cache") for n in kept) >= 10


def test_a_changed_template_is_never_served_from_the_cache(
    template: Path, tmp_path: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    new_project_render(template, tmp_path / "first")
    changed = template_snapshot(template_root(), tmp_path_factory.mktemp("changed"))
    readme = changed / "template" / "README.md.jinja"
    readme.unlink()  # the snapshot hard-links files: replace, never edit in place
    readme.write_text((template / "template" / "README.md.jinja").read_text() + "\nChanged in v2: {{ users }} users.\n")
    assert template_fingerprint(changed) == template_fingerprint(template)  # same key: only the checksum differs
    second = new_project_render(changed, tmp_path / "second")
    assert (second / "README.md").read_text().endswith("Changed in v2: 50 users.\n")
    assert not (tmp_path / "first" / "README.md").read_text().endswith("Changed in v2: 50 users.\n")


def test_a_damaged_or_unwritable_cache_only_means_compiling_again(
    template: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = tree(new_project_render(template, tmp_path / "clean"))
    for entry in cache.iterdir():
        entry.write_bytes(b"\x00garbage")
    assert tree(new_project_render(template, tmp_path / "damaged")) == expected
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert tree(new_project_render(template, tmp_path / "uncached")) == expected


def test_over_budget_in_an_existing_empty_folder_writes_nothing(template: Path, tmp_path: Path, cache: Path) -> None:
    # The default budget is checked by the context hook at render time: it must run before any file is written.
    dest = tmp_path / "empty"
    dest.mkdir()
    with pytest.raises(UserMessageError, match=r"exceeds the aws_budget of \$300\.00"):
        new_project_render(template, dest, users=5000)
    assert list(dest.iterdir()) == []


def test_git_is_asked_once_about_file_modes_where_copier_asks_per_file(
    template: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "git-calls.log"
    shim = tmp_path / "bin" / "git"  # the real git, logging its arguments
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{shutil.which("git")}" "$@"\n')
    shim.chmod(0o755)
    path = f"{shim.parent}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)

    def file_mode_questions() -> int:
        asked = log.read_text().splitlines().count("config --type=bool --get core.fileMode")
        log.unlink()
        return asked

    with local.env(PATH=path):  # copier runs git through plumbum, which keeps its own copy of PATH
        theirs = tmp_path / "copier"
        run_copy(str(template), str(theirs), defaults=True, unsafe=True, quiet=True)
        assert file_mode_questions() == sum(p.is_file() for p in theirs.rglob("*")) > 60
        new_project_render(template, tmp_path / "ours")
        assert file_mode_questions() == 1


def test_the_file_mode_answer_is_gits_inside_and_outside_a_repository(
    template: Path, tmp_path: Path, cache: Path
) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "core.fileMode", "false"], check=True)
    for dest, ignores_modes in ((tmp_path / "outside", False), (repo / "inside", True)):
        with NewProjectWorker(src_path=str(template), dst_path=dest, defaults=True, unsafe=True, quiet=True) as worker:
            worker.run_copy()
            assert worker._index_ignores_file_mode is ignores_modes
        assert os.access(dest / "deploy.sh", os.X_OK)


def test_the_fingerprint_follows_the_engine_the_hooks_and_copier_yml(template: Path, tmp_path: Path) -> None:
    # Jinja runs a filter on a constant while compiling, and compiles a filter call by its signature: a
    # change to the plan engine's code must not reuse code compiled before it.
    engine = tmp_path / "engine"
    shutil.copytree(ENGINE, engine, ignore=shutil.ignore_patterns("__pycache__"))
    before = template_fingerprint(template, engine)
    assert template_fingerprint(template, engine) == before
    formatting = engine / "formatting.py"
    formatting.write_text(formatting.read_text() + "\n# changed\n")
    assert template_fingerprint(template, engine) != before
    changed = tmp_path / "changed"
    shutil.copytree(template, changed, copy_function=shutil.copy2)
    assert template_fingerprint(changed, ENGINE) == template_fingerprint(template, ENGINE)
    for edited in (changed / "copier.yml", changed / "hooks" / "extensions.py"):
        edited.write_text(edited.read_text() + "\n# changed\n")
        assert template_fingerprint(changed, ENGINE) != template_fingerprint(template, ENGINE)


def test_the_snapshot_folders_are_writable_so_removing_it_never_touches_the_checkout(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    (root / "template" / "locked").mkdir(parents=True)
    (root / "hooks").mkdir()
    (root / "copier.yml").write_text("name:\n  default: x\n")
    kept = root / "template" / "locked" / "file.txt"
    kept.write_text("kept\n")
    kept.chmod(0o644)
    (root / "template" / "locked").chmod(0o555)
    try:
        snapshot = template_snapshot(root, tmp_path / "snapshot")
        for folder, _, _ in os.walk(snapshot):
            assert os.stat(folder).st_mode & stat.S_IWUSR, folder
        shutil.rmtree(snapshot)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o644 and kept.read_text() == "kept\n"
    finally:
        (root / "template" / "locked").chmod(0o755)


def test_templated_names_with_yield_tags_render_as_with_copier(tmp_path: Path, cache: Path) -> None:
    # A reused compiled name must reset copier's yield record as compiling it would: else the second
    # value of a `{% yield %}` name is taken for a second yield tag.
    template = tmp_path / "yield-template"
    (template / "{{ folder }}").mkdir(parents=True)
    (template / "copier.yml").write_text("items:\n  type: yaml\n  default: [a, b, c]\nfolder:\n  default: out\n")
    (template / "{{ folder }}" / "{% yield item from items %}{{ item }}{% endyield %}.txt.jinja").write_text(
        "item {{ item }} of {{ items | length }}\n"
    )
    (template / "plain.txt").write_text("plain\n")
    theirs = tmp_path / "copier"
    run_copy(str(template), str(theirs), defaults=True, quiet=True)
    ours = new_project_render(template, tmp_path / "ours")
    assert tree(ours) == tree(theirs)
    assert (ours / "out" / "c.txt").read_text() == "item c of 3\n"
