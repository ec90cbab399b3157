"""The package's bytecode: compiled by a Python of the runtime's version, checked at build time (tag, magic
number, unchecked hash), loaded without reading the sources, the same bytes on every build; no bytecode (and
one line saying so) without such a Python; the package's size against Lambda's limits; no AWS SDK in it.

The runtime's Python may not be on this machine: the build is exercised with this interpreter standing in
for it (its own tag and magic number), which is what the build's checks compare against.
"""

from __future__ import annotations

import importlib.util
import io
import marshal
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ops.console import Console
from ops.release import (
    LAMBDA_CACHE_TAG,
    LAMBDA_PYTHON_VERSION,
    LAMBDA_TASK_ROOT,
    UNZIPPED_LIMIT_BYTES,
    ZIPPED_LIMIT_BYTES,
    BytecodePython,
    build_package,
    bytecode_problems,
    find_bytecode_python,
    package_sizes,
    probe_python,
    runtime_requirements,
)

REPO = Path(__file__).resolve().parent.parent
THIS_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def this_python() -> BytecodePython:
    found = probe_python(sys.executable)
    assert found is not None
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project with the package's folders: a module that says where it was loaded from."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "where.py").write_text("SOURCE = 'the shipped module'\nNUMBERS = frozenset({'a', 'b', 'c'})\n")
    (root / "ops").mkdir()
    (root / "ops" / "__init__.py").write_text("")
    (root / "migrations").mkdir()
    (root / "migrations" / "0001.sql").write_text("SELECT 1;\n")
    return root


def _build(root: Path, bytecode: BytecodePython | None) -> tuple[bytes, str]:
    out = io.StringIO()
    package = build_package(root, with_dependencies=False, console=Console(out=out), bytecode=lambda: bytecode)
    return package, out.getvalue()


def test_the_runtime_tag_follows_the_plans_version() -> None:
    major, minor = LAMBDA_PYTHON_VERSION.split(".")
    assert f"cpython-{major}{minor}" == LAMBDA_CACHE_TAG


def test_a_python_of_the_version_is_found_and_others_are_passed_over(tmp_path: Path) -> None:
    shim = tmp_path / "python-shim"  # like a pyenv shim of a version that is not active: it does not run
    shim.write_text("#!/bin/sh\necho 'pyenv: python: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    candidates = [str(tmp_path / "missing-python"), str(shim), sys.executable]
    found = find_bytecode_python(THIS_VERSION, candidates)
    assert found == BytecodePython(
        sys.executable, sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER
    )  # the magic number this interpreter writes
    older = f"{sys.version_info.major}.{sys.version_info.minor - 1}"
    assert find_bytecode_python(older, [sys.executable]) is None


def test_the_package_ships_bytecode_the_runtime_loads_without_its_sources(project: Path, tmp_path: Path) -> None:
    python = this_python()
    package, printed = _build(project, python)
    names = zipfile.ZipFile(io.BytesIO(package)).namelist()
    compiled = sorted(name for name in names if name.endswith(".pyc"))
    assert compiled == [
        f"app/__pycache__/__init__.{python.cache_tag}.pyc",
        f"app/__pycache__/where.{python.cache_tag}.pyc",
        f"ops/__pycache__/__init__.{python.cache_tag}.pyc",
    ]
    assert f"bytecode {python.cache_tag} (magic {python.magic.hex()}) by {sys.executable}" in printed
    archive = zipfile.ZipFile(io.BytesIO(package))
    data = archive.read(f"app/__pycache__/where.{python.cache_tag}.pyc")
    assert data[:4] == python.magic
    assert int.from_bytes(data[4:8], "little") == 0b01  # PEP 552: hash-based, source not checked
    # The code names its source where Lambda puts it, not where it was built.
    assert marshal.loads(data[16:]).co_filename == f"{LAMBDA_TASK_ROOT}/app/where.py"

    task = tmp_path / "task"
    archive.extractall(task)
    # A source that no longer matches its bytecode: the runtime (here, this Python) never reads it.
    (task / "app" / "where.py").write_text("raise SystemExit('the source was compiled instead')\n")
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", "import app.where as w; print(w.SOURCE)"],
        cwd=task,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(task)},
    )
    assert done.stdout.strip() == "the shipped module", done.stderr


def test_the_same_sources_give_the_same_package(project: Path) -> None:
    python = this_python()
    first, _ = _build(project, python)
    second, _ = _build(project, python)
    assert first == second


def test_without_a_python_of_the_runtimes_version_the_package_ships_sources_and_says_so(project: Path) -> None:
    package, printed = _build(project, None)
    names = zipfile.ZipFile(io.BytesIO(package)).namelist()
    assert "app/where.py" in names
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
    lines = [line.strip() for line in printed.splitlines() if "bytecode" in line]
    assert lines == [
        f"no bytecode: no Python {LAMBDA_PYTHON_VERSION} here (this one, python{LAMBDA_PYTHON_VERSION} on PATH,"
        " pyenv); each cold start compiles the modules it imports"
    ]


def test_bytecode_the_runtime_would_not_load_is_refused(tmp_path: Path) -> None:
    python = this_python()
    folder = tmp_path / "package"
    (folder / "pkg" / "__pycache__").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "mod.py").write_text("X = 1\n")
    header = python.magic + (0b01).to_bytes(4, "little") + bytes(8)
    (folder / "pkg" / "__pycache__" / f"__init__.{python.cache_tag}.pyc").write_bytes(b"\x00\x00\r\n" + header[4:])
    (folder / "pkg" / "__pycache__" / f"mod.{python.cache_tag}.pyc").write_bytes(
        python.magic + (0).to_bytes(4, "little") + bytes(8)
    )
    (folder / "pkg" / "__pycache__" / "mod.cpython-39.pyc").write_bytes(header)
    problems = bytecode_problems(folder, python)
    assert problems == [
        f"pkg/__init__.py: magic number 00000d0a is not {python.magic.hex()}",
        "pkg/mod.py: bytecode is not hash-based and unchecked",
        f"pkg/__pycache__/mod.cpython-39.pyc: not the runtime's ({python.cache_tag})",
    ]
    (folder / "pkg" / "other.py").write_text("Y = 2\n")
    assert f"pkg/other.py: no {python.cache_tag} bytecode" in bytecode_problems(folder, python)
    assert f"pkg/other.py: no {python.cache_tag} bytecode" not in bytecode_problems(
        folder, python, not_compiled=["pkg/other.py"]
    )


def test_the_package_size_is_reported_against_lambdas_limits(project: Path) -> None:
    package, printed = _build(project, this_python())
    sizes = package_sizes(package)
    archive = zipfile.ZipFile(io.BytesIO(package))
    assert sizes.zipped == len(package)
    assert sizes.unzipped == sum(info.file_size for info in archive.infolist())
    for line in sizes.lines():
        assert line in printed
    assert sizes.lines()[0].startswith(
        f"zipped {sizes.zipped / 2**20:.1f} MB of {ZIPPED_LIMIT_BYTES / 2**20:.1f} MB for a direct upload"
    )
    assert sizes.lines()[1].startswith(
        f"unzipped {sizes.unzipped / 2**20:.1f} MB of {UNZIPPED_LIMIT_BYTES / 2**20:.1f} MB"
    )


def test_the_functions_need_no_aws_sdk_and_the_package_ships_none() -> None:
    """The app signs its own calls (app/aws.py): neither it nor the cron function's tasks import boto3 or botocore,
    so the runtime requirements (the package) leave them out; ops/, devstack and tests get them from `dev`."""
    sources = [*sorted((REPO / "app").rglob("*.py")), REPO / "ops" / "tasks.py"]
    assert not [r for r in runtime_requirements(REPO) if re.match(r"(boto3|botocore)\b", r)]
    imports = re.compile(r"^\s*(?:import|from)\s+(?:boto3|botocore)\b", re.MULTILINE)
    assert not [path.name for path in sources if imports.search(path.read_text(encoding="utf-8"))]
