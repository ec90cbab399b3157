"""Blue/green releases of the workers: package, publish an immutable version, move the `live` alias.

A published version freezes code AND configuration, so the secrets and the public URL are set on $LATEST
just before publishing; rolling the alias back restores both together.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.config import REPO_ROOT
from ops.console import Console

ALIAS = "live"
# What the Lambda package holds besides the dependencies (ops/ for the cron function's tasks).
PACKAGE_DIRS = ("app", "migrations", "ops")
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)  # zip entries carry no build time: same sources, same hash


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


def vendor_dependencies(target: Path, requirements: list[str]) -> None:
    """Linux arm64 wheels for Python 3.12 (the Lambda runtime), whatever machine deploys."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
            "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.12",
            "--only-binary=:all:", *requirements,
        ],
        check=True,
    )  # fmt: skip


def build_package(root: Path = REPO_ROOT, *, with_dependencies: bool = True) -> bytes:
    """A deterministic zip of the app (and its dependencies unless told otherwise)."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = _files(root)
        if with_dependencies:
            vendor_dependencies(Path(tmp), runtime_requirements(root))
            entries += [
                (p.relative_to(tmp).as_posix(), p)
                for p in sorted(Path(tmp).rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts
            ]
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
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

    def set_environment(self, function: str, overlay: dict[str, str], handler: str | None = None) -> None:
        current = self.client.get_function_configuration(FunctionName=function)
        variables = dict(current.get("Environment", {}).get("Variables", {}))
        variables.update(overlay)
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


def invoke_task(client: Any, function: str, task: str) -> dict[str, Any]:
    """Run one ops task inside the VPC (the database is not reachable from the deploying machine)."""
    response = client.invoke(FunctionName=function, Payload=json.dumps({"task": task}).encode())
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
