"""Blue/green releases of the workers: package, publish an immutable version, move the `live` alias.

A published version freezes code AND configuration, so the secrets and the public URL are set on $LATEST
just before publishing; rolling the alias back restores both together.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ops.config import REPO_ROOT, OpsPlan
from ops.console import Console
from ops.errors import OpsError

ALIAS = "live"
# What the Lambda package holds besides the dependencies (ops/ for the cron function's tasks).
PACKAGE_DIRS = ("app", "migrations", "ops")
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)  # zip entries carry no build time: same sources, same hash

# The workers' runtime: python<version> on arm64, the version the plan names (infra/ops.json; the stack's
# `Runtime` is rendered from the same value). "Building Lambda functions with Python"
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html, read 2026-11-25): python3.12 and later run
# on Amazon Linux 2023, whose glibc is 2.34 ("Core toolchain packages glibc, gcc, binutils",
# https://docs.aws.amazon.com/linux/al2023/ug/core-glibc.html, read 2026-11-25).
LAMBDA_PYTHON_VERSION = OpsPlan.load().lambda_python_version
LAMBDA_CACHE_TAG = f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}"
LAMBDA_GLIBC = (2, 34)
# Where Lambda extracts the package (LAMBDA_TASK_ROOT): compiled modules name their sources there, so the
# bytecode does not depend on the folder it was built in. "Defined runtime environment variables"
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html, read 2026-11-25).
LAMBDA_TASK_ROOT = "/var/task"
# Package limits: 50 MB zipped for a direct upload (larger goes through S3), 250 MB unzipped in all.
# "Lambda quotas" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, read 2026-11-25);
# Lambda counts these in binary megabytes.
ZIPPED_LIMIT_BYTES = 50 * 1024 * 1024
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# Every wheel platform tag that runtime accepts. "Working with .zip file archives for Python Lambda functions"
# (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html, read 2026-11-25) vendors with
# `pip install --platform manylinux2014_aarch64 --only-binary=:all:`; with that tag alone pip skips wheels
# built for a newer glibc (psycopg-binary 3.3 publishes only manylinux_2_28_aarch64) and silently settles on
# an older release. pip takes several `--platform` and does not widen a PEP 600 tag to older glibcs, so each
# glibc from manylinux2014's (2.17, the oldest aarch64 manylinux) up to the runtime's is listed.
LAMBDA_PLATFORMS: tuple[str, ...] = (
    "manylinux2014_aarch64",
    *(f"manylinux_2_{minor}_aarch64" for minor in range(17, LAMBDA_GLIBC[1] + 1)),
)
# What pyproject's environment markers see on that runtime (PEP 508 names).
LAMBDA_MARKER_ENVIRONMENT = {
    "implementation_name": "cpython",
    "platform_machine": "aarch64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "python_version": LAMBDA_PYTHON_VERSION,
    "python_full_version": f"{LAMBDA_PYTHON_VERSION}.0",
}


class DependencyResolutionError(OpsError):
    """The Lambda package would hold a dependency that pyproject does not allow (or lacks one)."""


class PackageError(OpsError):
    """The package cannot be deployed as built: too large for Lambda, or bytecode the runtime cannot load."""


def _files(root: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for top in PACKAGE_DIRS:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.append((path.relative_to(root).as_posix(), path))
    return found


def runtime_requirements(root: Path = REPO_ROOT) -> list[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [str(dep) for dep in project.get("dependencies", [])]


def pip_install_args(target: Path, requirements: Sequence[str]) -> list[str]:
    """pip's command line for the runtime's wheels (linux arm64, CPython 3.12), whatever machine deploys."""
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *platforms,
        "--implementation", "cp", "--python-version", LAMBDA_PYTHON_VERSION, "--only-binary=:all:",
        # pip would compile with the deploying Python; the bytecode is compiled for the runtime's afterwards.
        "--no-compile", *requirements,
    ]  # fmt: skip


def vendor_dependencies(target: Path, requirements: list[str]) -> None:
    subprocess.run(pip_install_args(target, requirements), check=True)


@dataclass(frozen=True)
class Resolved:
    """One distribution in the package: what pip chose, what the tests ran against, what pyproject asks."""

    name: str
    packaged: str
    tested: str | None  # installed where the deploy runs (the tests' environment); None: not installed here
    requirement: Requirement | None  # pyproject's, for a direct dependency

    @property
    def allowed(self) -> bool:
        if self.requirement is None:
            return True
        return _version(self.packaged) is not None and self.requirement.specifier.contains(
            self.packaged, prereleases=True
        )

    @property
    def older_than_tested(self) -> bool:
        packaged, tested = _version(self.packaged), _version(self.tested)
        return packaged is not None and tested is not None and packaged < tested

    @property
    def note(self) -> str:
        if not self.allowed:
            return "NOT ALLOWED by pyproject"
        if self.older_than_tested:
            return "OLDER than tested"
        if self.tested is None:
            return "not installed here (untested)"
        if self.tested != self.packaged:
            return "newer than tested"
        return ""


def _version(text: str | None) -> Version | None:
    try:
        return None if text is None else Version(text)
    except InvalidVersion:
        return None


def packaged_versions(target: Path) -> dict[str, str]:
    """Name -> version of every distribution pip installed into `target` (its `*.dist-info/METADATA`)."""
    found: dict[str, str] = {}
    for meta in sorted(target.glob("*.dist-info/METADATA")):
        headers = Parser().parsestr(meta.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        if headers["Name"] and headers["Version"]:
            found[canonicalize_name(headers["Name"])] = str(headers["Version"])
    return found


def installed_versions(names: Iterable[str]) -> dict[str, str | None]:
    """The versions where the deploy runs: the environment the tests ran against."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def resolution_report(
    packaged: Mapping[str, str], requirements: Sequence[str], tested: Mapping[str, str | None]
) -> tuple[list[Resolved], list[str]]:
    """The package's distributions against pyproject and the tested versions; and every problem, one line
    each (a direct dependency missing from the package or at a version pyproject does not allow)."""
    direct: dict[str, Requirement] = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(LAMBDA_MARKER_ENVIRONMENT):
            direct[canonicalize_name(requirement.name)] = requirement
    rows = [Resolved(name, version, tested.get(name), direct.get(name)) for name, version in sorted(packaged.items())]
    problems = [
        f"{name} is not in the package (pyproject: {req})" for name, req in direct.items() if name not in packaged
    ]
    problems += [
        f"{row.name} {row.packaged} was packaged, pyproject wants {row.requirement}" for row in rows if not row.allowed
    ]
    return rows, problems


def format_report(rows: Sequence[Resolved]) -> list[str]:
    table = [("package", "packaged", "tested", "pyproject", "")] + [
        (r.name, r.packaged, r.tested or "-", str(r.requirement.specifier) if r.requirement else "", r.note)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]


def check_dependencies(target: Path, requirements: list[str], console: Console) -> list[Resolved]:
    """Prints what the package holds against pyproject and the tested versions; fails on a disallowed one."""
    packaged = packaged_versions(target)
    rows, problems = resolution_report(packaged, requirements, installed_versions(packaged))
    for line in format_report(rows):
        console.detail(line)
    older = [f"{r.name} {r.packaged} < {r.tested}" for r in rows if r.older_than_tested]
    if older:
        console.detail(f"older than tested ({len(older)}): " + ", ".join(older))
    if problems:
        raise DependencyResolutionError("; ".join(problems))
    return rows


# -- bytecode for the runtime --------------------------------------------------------------------------
#
# Without it every cold start compiles each module it imports (about a thousand with the dependencies) and
# cannot keep the result (/var/task is read-only). The runtime loads a `__pycache__/<module>.<tag>.pyc` only
# when the tag and the magic number are its own Python's, so the bytecode is compiled by a Python of the
# runtime's version, found on this machine (this one, `python3.12` on PATH, or pyenv's). Hash-based and
# unchecked (PEP 552), it depends neither on file times (the zip has none) nor on the sources being read.
# Without such a Python the package ships sources only: it works, each cold start is slower, and the
# deploy says so in one line (preflight: WARN bytecode).

_PROBE = (
    "import importlib.util, sys; "
    "print(sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex(), sys.version_info.releaselevel)"
)


@dataclass(frozen=True)
class BytecodePython:
    """An interpreter whose bytecode the runtime loads: the runtime's cache tag, a final release."""

    executable: str
    cache_tag: str
    magic: bytes


def bytecode_python_candidates(version: str = LAMBDA_PYTHON_VERSION) -> list[str]:
    """Where a Python of the runtime's version may be: this one, `python<version>` on PATH, pyenv's."""
    found = [sys.executable]
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found += [str(p) for p in sorted(pyenv.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)]
    return list(dict.fromkeys(found))


def probe_python(executable: str) -> BytecodePython | None:
    """What bytecode `executable` writes, or None when it does not run (a pyenv shim of an inactive version)."""
    try:
        done = subprocess.run([executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    fields = done.stdout.split()
    if len(fields) != 3 or fields[2] != "final":
        return None  # a pre-release may carry another magic number than the runtime's release
    return BytecodePython(executable, fields[0], bytes.fromhex(fields[1]))


def find_bytecode_python(
    version: str = LAMBDA_PYTHON_VERSION, candidates: Sequence[str] | None = None
) -> BytecodePython | None:
    tag = f"cpython-{version.replace('.', '')}"
    for candidate in bytecode_python_candidates(version) if candidates is None else candidates:
        found = probe_python(candidate)
        if found is not None and found.cache_tag == tag:
            return found
    return None


def compile_bytecode(folder: Path, python: BytecodePython, *, task_root: str = LAMBDA_TASK_ROOT) -> list[str]:
    """Compile every module under `folder` as the runtime will find it under `task_root`; returns the
    sources that did not compile (some distributions ship files for other Python versions: those modules
    are never imported, or compile at import as before)."""
    done = subprocess.run(
        [
            python.executable, "-I", "-m", "compileall", "-q", "-j", "0",
            "--invalidation-mode", "unchecked-hash", "-s", str(folder), "-p", task_root, str(folder),
        ],
        capture_output=True, text=True, check=False,
        # Sets and frozensets of strings are marshalled in hash order: a fixed seed keeps the bytes stable.
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    marker = "*** Error compiling "
    failed = [
        Path(ast.literal_eval(line[len(marker) :].removesuffix("..."))).relative_to(folder).as_posix()
        for line in done.stdout.splitlines()
        if line.startswith(marker)
    ]
    if done.returncode != 0 and not failed:
        raise PackageError(f"compileall failed with {python.executable}: {(done.stderr or done.stdout).strip()[:500]}")
    return sorted(failed)


# The flags word of a PEP 552 header: bit 0 = hash-based, bit 1 = check the source. 0b01: hash, unchecked.
_UNCHECKED_HASH = 0b01


def bytecode_problems(folder: Path, python: BytecodePython, *, not_compiled: Sequence[str] = ()) -> list[str]:
    """Every module has bytecode the runtime loads as is (its tag, its magic number, unchecked hash); one
    line per problem."""
    problems: list[str] = []
    skipped = set(not_compiled)
    for source in sorted(folder.rglob("*.py")):
        name = source.relative_to(folder).as_posix()
        compiled = source.parent / "__pycache__" / f"{source.stem}.{python.cache_tag}.pyc"
        if not compiled.is_file():
            if name not in skipped:
                problems.append(f"{name}: no {python.cache_tag} bytecode")
            continue
        header = compiled.read_bytes()[:8]
        if header[:4] != python.magic:
            problems.append(f"{name}: magic number {header[:4].hex()} is not {python.magic.hex()}")
        elif int.from_bytes(header[4:8], "little") != _UNCHECKED_HASH:
            problems.append(f"{name}: bytecode is not hash-based and unchecked")
    for stray in sorted(folder.rglob("*.pyc")):
        if not stray.name.endswith(f".{python.cache_tag}.pyc"):
            problems.append(f"{stray.relative_to(folder).as_posix()}: not the runtime's ({python.cache_tag})")
    return problems


# -- the package -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageSizes:
    zipped: int
    unzipped: int

    def lines(self) -> list[str]:
        def mb(size: int) -> str:
            return f"{size / 1024 / 1024:.1f} MB"

        return [
            f"zipped {mb(self.zipped)} of {mb(ZIPPED_LIMIT_BYTES)} for a direct upload"
            f" ({self.zipped / ZIPPED_LIMIT_BYTES:.0%})",
            f"unzipped {mb(self.unzipped)} of {mb(UNZIPPED_LIMIT_BYTES)} ({self.unzipped / UNZIPPED_LIMIT_BYTES:.0%})",
        ]


def package_sizes(package: bytes) -> PackageSizes:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return PackageSizes(len(package), sum(info.file_size for info in archive.infolist()))


Vendor = Callable[[Path, list[str]], None]


def build_package(
    root: Path = REPO_ROOT,
    *,
    with_dependencies: bool = True,
    console: Console | None = None,
    vendor: Vendor = vendor_dependencies,
    bytecode: Callable[[], BytecodePython | None] = find_bytecode_python,
) -> bytes:
    """A deterministic zip of the app (and its dependencies unless told otherwise), with bytecode for the
    runtime when a Python of its version is found. `vendor` installs the requirements into a folder (pip for
    the runtime's platform; the cold-start benchmark copies this environment's instead)."""
    console = console or Console()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "package"
        staging.mkdir()
        if with_dependencies:
            requirements = runtime_requirements(root)
            vendor(staging, requirements)
            check_dependencies(staging, requirements, console)
            for cache in sorted(staging.rglob("__pycache__"), reverse=True):
                shutil.rmtree(cache)  # only bytecode compiled for the runtime below is shipped
        for name, path in _files(root):
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / name)
        compiler = bytecode()
        if compiler is None:
            console.detail(
                f"no bytecode: no Python {LAMBDA_PYTHON_VERSION} here (this one, python{LAMBDA_PYTHON_VERSION} on"
                " PATH, pyenv); each cold start compiles the modules it imports"
            )
        else:
            not_compiled = compile_bytecode(staging, compiler)
            problems = bytecode_problems(staging, compiler, not_compiled=not_compiled)
            if problems:
                raise PackageError(f"{len(problems)} bytecode problem(s), first: {problems[0]}")
            console.detail(
                f"bytecode {compiler.cache_tag} (magic {compiler.magic.hex()}) by {compiler.executable}"
                + (f"; {len(not_compiled)} file(s) do not compile for it" if not_compiled else "")
            )
        package = _zip(staging)
    sizes = package_sizes(package)
    for line in sizes.lines():
        console.detail(line)
    if sizes.unzipped > UNZIPPED_LIMIT_BYTES:
        raise PackageError(
            f"the package is {sizes.unzipped / 1024 / 1024:.1f} MB unzipped; Lambda takes at most"
            f" {UNZIPPED_LIMIT_BYTES / 1024 / 1024:.0f} MB"
        )
    return package


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


@dataclass(frozen=True)
class Release:
    function: str
    version: str
    previous: str | None


class Releaser:
    def __init__(
        self,
        client: Any,
        s3: Any,
        console: Console,
        *,
        poll_seconds: float = 2.0,
        timeout_seconds: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.s3 = s3
        self.console = console
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def live_version(self, function: str) -> str | None:
        try:
            return str(self.client.get_alias(FunctionName=function, Name=ALIAS)["FunctionVersion"])
        except self.client.exceptions.ResourceNotFoundException:
            return None

    def versions(self, function: str) -> list[int]:
        numbers: list[int] = []
        for page in self.client.get_paginator("list_versions_by_function").paginate(FunctionName=function):
            numbers += [int(v["Version"]) for v in page["Versions"] if v["Version"] != "$LATEST"]
        return sorted(numbers)

    def previous_version(self, function: str) -> str | None:
        """The newest published version older than the live one."""
        live = self.live_version(function)
        if live is None or live == "$LATEST":
            return None
        older = [n for n in self.versions(function) if n < int(live)]
        return str(older[-1]) if older else None

    def upload_code(self, function: str, package: bytes, bucket: str | None) -> str:
        digest = hashlib.sha256(package).hexdigest()
        if bucket:
            # Through S3: direct uploads stop at 50 MB and the dependencies alone come close.
            key = f"packages/{function}/{digest}.zip"
            self.s3.put_object(Bucket=bucket, Key=key, Body=package)
            self.client.update_function_code(FunctionName=function, S3Bucket=bucket, S3Key=key)
        else:
            self.client.update_function_code(FunctionName=function, ZipFile=package)
        self.wait_updated(function)
        return digest

    def set_environment(
        self,
        function: str,
        overlay: dict[str, str],
        handler: str | None = None,
        *,
        remove: Iterable[str] = (),
    ) -> None:
        """$LATEST's variables with `overlay` set and the `remove` names gone (what an older deploy left)."""
        current = self.client.get_function_configuration(FunctionName=function)
        variables = dict(current.get("Environment", {}).get("Variables", {}))
        variables.update(overlay)
        for name in remove:
            variables.pop(name, None)
        changes: dict[str, Any] = {}
        if variables != current.get("Environment", {}).get("Variables", {}):
            changes["Environment"] = {"Variables": variables}
        if handler and current.get("Handler") != handler:
            changes["Handler"] = handler
        if changes:
            self.client.update_function_configuration(FunctionName=function, **changes)
            self.wait_updated(function)

    def publish(self, function: str, description: str) -> str:
        version = self.client.publish_version(FunctionName=function, Description=description[:256])
        return str(version["Version"])

    def move_alias(self, function: str, version: str, *, note: str = "") -> None:
        try:
            self.client.update_alias(FunctionName=function, Name=ALIAS, FunctionVersion=version, Description=note)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_alias(FunctionName=function, Name=ALIAS, FunctionVersion=version, Description=note)

    def wait_updated(self, function: str) -> None:
        waited = 0.0
        while True:
            config = self.client.get_function_configuration(FunctionName=function)
            status = config.get("LastUpdateStatus", "Successful")
            if status == "Successful" and config.get("State", "Active") in ("Active", "Inactive"):
                return
            if status == "Failed":
                raise RuntimeError(f"{function} update failed: {config.get('LastUpdateStatusReason', '')}")
            if waited >= self.timeout_seconds:
                raise RuntimeError(f"{function} still updating after {waited:.0f}s")
            self.console.line(f"    waiting: {function} {status}")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds


def task_client_config(plan: OpsPlan) -> Config:
    """A task runs once per invoke: no retries, and an answer awaited longer than the function may run.

    The ops clients' adaptive retries and botocore's 60 s default read timeout would cut off a migration
    that runs longer and invoke it again while the first run still works. "Retries" (boto3 guide,
    https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html, read 2026-11-25):
    `total_max_attempts` counts the first call, so 1 is no retry. "Invoke" (Lambda API reference,
    https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html, read 2026-11-25): a synchronous call with
    a long timeout needs the client's timeout and keep-alive set so the connection outlives the function.
    """
    return Config(
        read_timeout=plan.cron_timeout_seconds + plan.task_invoke_margin_seconds,
        retries={"total_max_attempts": 1},
        tcp_keepalive=True,
    )


def task_client(region: str, plan: OpsPlan) -> Any:
    return boto3.session.Session(region_name=region).client("lambda", config=task_client_config(plan))


def invoke_task(client: Any, function: str, task: str) -> dict[str, Any]:
    """Run one ops task inside the VPC (the database is not reachable from the deploying machine).

    `client` is `task_client`'s: a lost answer is reported, never retried (the task may have run).
    """
    try:
        response = client.invoke(FunctionName=function, Payload=json.dumps({"task": task}).encode())
    except (ReadTimeoutError, ConnectionClosedError) as exc:
        raise RuntimeError(
            f"task {task} in {function}: no answer ({type(exc).__name__}); it may still be running, "
            "so it was not invoked again: read the function's log before deploying again"
        ) from exc
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError") or not payload.get("ok"):
        raise RuntimeError(f"task {task} failed in {function}: {payload.get('error') or payload.get('errorMessage')}")
    return dict(payload)


def git_revision(root: Path = REPO_ROOT) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
