"""An installed betagen renders: its wheel ships the template (copier.yml, template/, hooks/) as package data.

The wheel is built from this checkout's files (tracked and new, as a fresh clone would have them) with
the setuptools of this environment and installed into a fresh virtual environment whose dependencies
come from this one (a .pth file): nothing is downloaded. It then renders the reference from another
folder, and the render equals one of the same template files from a checkout, apart from the origin
that copier records in the answers file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from generator.render.project import new_project, template_root

pytestmark = pytest.mark.slow
ROOT = template_root()
SHIPPED = ("pyproject.toml", "README.md", "copier.yml", "template", "hooks", "src")


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


def source_tree(into: Path) -> Path:
    """The files a fresh clone would have (tracked, and new ones not ignored), uncommitted edits included."""
    listed = run("git", "-C", ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "--", *SHIPPED)
    for name in listed.splitlines():
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh environment's bin folder, the source the wheel was built from)."""
    work = tmp_path_factory.mktemp("wheel")
    source = source_tree(work / "source")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w",
        work / "dist", source)  # fmt: skip
    (wheel,) = (work / "dist").glob("betagen-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", work / "venv")
    python = work / "venv" / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (purelib / "betagen-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)
    return python.parent, source


def test_a_wheel_installed_in_a_fresh_environment_renders_the_reference(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_folder, source = installed
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    where = run(bin_folder / "python", "-c", "import generator; print(generator.__file__)", env=env)
    assert where.startswith(str(bin_folder.parent)), where  # the wheel's package, not this checkout's

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run(bin_folder / "betagen", "new", "ref", "--defaults", cwd=elsewhere, env=env)
    assert "(fits)" in out
    rendered = elsewhere / "ref"

    expected = tmp_path / "from-checkout"
    new_project(expected, {}, defaults=True, src=source)
    ours, theirs = tree(rendered), tree(expected)
    answers = yaml.safe_load(ours.pop(".copier-answers.yml"))
    theirs.pop(".copier-answers.yml")
    assert ours == theirs
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in ours)  # pip compiled the template
    assert answers["_src_path"].endswith("site-packages/betagen_template") and "_commit" not in answers
    assert answers["users"] == 50


def test_update_of_a_project_rendered_by_a_wheel_says_what_it_needs(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_folder, _ = installed
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run(bin_folder / "betagen", "new", "ref", "--defaults", cwd=tmp_path, env=env)
    run("git", "-C", tmp_path / "ref", "init", "-q")
    run("git", "-C", tmp_path / "ref", "add", "-A")
    run("git", "-C", tmp_path / "ref", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "r")
    done = subprocess.run(
        [str(bin_folder / "betagen"), "update", "."], cwd=tmp_path / "ref", env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "without git history" in done.stderr and "Traceback" not in done.stderr
