"""Each checked-in example is a repository that works: its own test suite, ruff and mypy pass inside it.

The examples are the renders that `betagen examples --check` keeps identical to a fresh render, so their
suites prove what a user gets. They run in this project's environment (the `test` extra carries the
rendered service's dependencies, so CI builds one venv), on copies in a temporary folder: the suites start
servers and may write files, and the checked-in examples must stay byte-identical.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(path.name for path in EXAMPLES_DIR.iterdir() if path.is_dir())
SUITE_TIMEOUT_SECONDS = 600
_SUMMARY = re.compile(r"^=*\s*(?P<passed>\d+) passed(?P<rest>.*?)\s*=*$")

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=SUITE_TIMEOUT_SECONDS, check=False
    )


def _report(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("examples")
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv")
    return {name: Path(shutil.copytree(EXAMPLES_DIR / name, root / name, ignore=ignore)) for name in EXAMPLES}


def test_every_example_is_covered() -> None:
    assert {f"{name}.yml" for name in EXAMPLES} == {path.name for path in EXAMPLES_DIR.glob("*.yml")}


@pytest.fixture(scope="module")
def suites(copies: dict[str, Path]) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Starts every example's whole suite at once: each waits on its own servers and subprocesses much of
    the time, so together they take little more than the slowest one alone."""
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=repo,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, repo in copies.items()
    }
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("name", EXAMPLES)
def test_rendered_suite_passes(name: str, suites: dict[str, subprocess.Popen[str]]) -> None:
    # The whole suite, the 1,000-delivery load test included (a few seconds: it drives the failure callback).
    output, _ = suites[name].communicate(timeout=SUITE_TIMEOUT_SECONDS)
    report = f"exit {suites[name].returncode}\n{output[-8000:]}"
    assert suites[name].returncode == 0, report
    summary = _SUMMARY.match(output.strip().splitlines()[-1])
    assert summary, report
    assert int(summary["passed"]) > 0
    assert not re.search(r"failed|error|skipped", summary["rest"]), report


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared by the examples: after the first, mypy re-checks only the modules that differ (seconds, not tens).
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.mark.parametrize("name", EXAMPLES)
def test_rendered_repo_is_ruff_and_mypy_clean(name: str, copies: dict[str, Path], mypy_cache: Path) -> None:
    repo = copies[name]
    for args in (
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        # The files to check and the strictness come from the rendered pyproject.toml, as in `make lint`.
        [sys.executable, "-m", "mypy", "--cache-dir", str(mypy_cache)],
    ):
        done = _run(args, repo)
        assert done.returncode == 0, f"{' '.join(args[2:])}: {_report(done)}"
