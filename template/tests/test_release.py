"""The release package and the task invoke: which wheels pip may choose for the Lambda runtime, the report of
what was packaged against pyproject and the tested versions, and a task invoke that is never repeated.

pip runs for real against wheels built here (`--no-index --find-links`): nothing is downloaded.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import socket
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from packaging.requirements import Requirement
from packaging.tags import Tag, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from ops.config import OpsPlan
from ops.console import Console
from ops.release import (
    LAMBDA_PLATFORMS,
    LAMBDA_PYTHON_VERSION,
    DependencyResolutionError,
    check_dependencies,
    format_report,
    installed_versions,
    invoke_task,
    packaged_versions,
    pip_install_args,
    resolution_report,
    runtime_requirements,
    task_client,
)

PLAN = OpsPlan.load()
# The runtime's CPython (the plan's lambda_python_version), and the one before it.
RUNTIME = tuple(int(part) for part in LAMBDA_PYTHON_VERSION.split("."))
CP = f"cp{RUNTIME[0]}{RUNTIME[1]}"
OLDER_CP = f"cp{RUNTIME[0]}{RUNTIME[1] - 1}"
# psycopg-binary 3.3 publishes only this tag for arm64; 3.2 carried the manylinux2014 one.
NEW_ONLY = f"{CP}-{CP}-manylinux_2_28_aarch64"
OLD_STYLE = f"{CP}-{CP}-manylinux_2_17_aarch64.manylinux2014_aarch64"


def _runtime_tags() -> set[Tag]:
    return set(cpython_tags(python_version=RUNTIME, platforms=LAMBDA_PLATFORMS))


def _wheel_tags(tag: str) -> frozenset[Tag]:
    return parse_wheel_filename(f"demo-1.0-{tag}.whl")[3]


def test_the_runtime_version_is_the_plans() -> None:
    """One value: the stack's Runtime and the CI's Python are rendered from the same plan field."""
    stack = (Path(__file__).resolve().parent.parent / "infra" / "stack.yaml").read_text(encoding="utf-8")
    assert PLAN.lambda_python_version == LAMBDA_PYTHON_VERSION
    assert stack.count(f"Runtime: python{LAMBDA_PYTHON_VERSION}\n") == 2
    assert stack.count("Runtime: ") == 2


def test_pip_gets_every_platform_the_runtime_accepts() -> None:
    args = pip_install_args(Path("/tmp/target"), ["demo>=1"])
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert platforms == list(LAMBDA_PLATFORMS)
    assert {"manylinux2014_aarch64", "manylinux_2_28_aarch64"} <= set(platforms)
    assert args[args.index("--python-version") + 1] == LAMBDA_PYTHON_VERSION
    assert "--only-binary=:all:" in args
    assert "--no-compile" in args  # the bytecode is the runtime's Python's, compiled afterwards
    assert args[-1] == "demo>=1"


@pytest.mark.parametrize(
    ("tag", "accepted"),
    [
        (NEW_ONLY, True),
        (OLD_STYLE, True),
        (f"{CP}-abi3-manylinux_2_34_aarch64", True),
        (f"{CP}-{CP}-manylinux_2_35_aarch64", False),  # needs a newer glibc than Amazon Linux 2023's
        (f"{CP}-{CP}-manylinux_2_28_x86_64", False),
        (f"{CP}-{CP}-musllinux_1_2_aarch64", False),
        (f"{OLDER_CP}-{OLDER_CP}-manylinux_2_28_aarch64", False),
    ],
)
def test_which_wheels_the_runtime_accepts(tag: str, accepted: bool) -> None:
    assert bool(_wheel_tags(tag) & _runtime_tags()) is accepted


# -- pip for real, on wheels built here -----------------------------------------------------------------


def _wheel(folder: Path, version: str, tag: str) -> None:
    """A minimal valid wheel of `demo-native` (a module and its dist-info, with RECORD hashes)."""
    dist = f"demo_native-{version}.dist-info"
    files = {
        "demo_native/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: demo-native\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\n"
        + "".join(f"Tag: {t}\n" for t in sorted(str(t) for t in _wheel_tags(tag))),
    }

    def record_line(name: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        return f"{name},sha256={digest},{len(data)}"

    record = "".join(record_line(name, text.encode()) + "\n" for name, text in files.items()) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"demo_native-{version}-{tag}.whl", "w") as archive:
        for name, text in {**files, f"{dist}/RECORD": record}.items():
            archive.writestr(name, text)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "3.2.0", OLD_STYLE)
    _wheel(folder, "3.3.0", NEW_ONLY)
    return folder


def _pip(args: list[str], wheels: Path) -> None:
    at = args.index("install") + 1
    offline = [*args[:at], "--no-index", "--find-links", str(wheels), *args[at:]]
    subprocess.run(offline, check=True, capture_output=True, text=True, timeout=120)


def test_pip_takes_the_newest_wheel_with_every_platform(wheels: Path, tmp_path: Path) -> None:
    target = tmp_path / "package"
    _pip(pip_install_args(target, ["demo-native"]), wheels)
    assert packaged_versions(target) == {"demo-native": "3.3.0"}


def test_manylinux2014_alone_silently_settles_on_the_older_release(wheels: Path, tmp_path: Path) -> None:
    """What the single `--platform manylinux2014_aarch64` of the Lambda guide's example does."""
    target = tmp_path / "package"
    args = pip_install_args(target, ["demo-native"])
    only_2014 = [a for i, a in enumerate(args) if not (a == "--platform" or args[i - 1] == "--platform")]
    at = only_2014.index("--implementation")
    _pip([*only_2014[:at], "--platform", "manylinux2014_aarch64", *only_2014[at:]], wheels)
    assert packaged_versions(target) == {"demo-native": "3.2.0"}


# -- the report on a package folder ---------------------------------------------------------------------


def _dist_info(target: Path, name: str, version: str) -> None:
    folder = target / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nbody\n")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    target = tmp_path / "package"
    for name, version in {"Psycopg": "3.2.9", "psycopg-binary": "3.2.9", "fastapi": "0.115.2"}.items():
        _dist_info(target, name, version)
    (target / "psycopg").mkdir()  # package code beside the dist-info folders is not a distribution
    return target


REQUIREMENTS = ["psycopg[binary]>=3.2", "fastapi>=0.115", 'uvloop>=0.19; sys_platform == "win32"']


def test_the_report_reads_the_packaged_versions(package: Path) -> None:
    assert packaged_versions(package) == {"psycopg": "3.2.9", "psycopg-binary": "3.2.9", "fastapi": "0.115.2"}


def test_an_older_version_than_tested_is_flagged_not_refused(package: Path) -> None:
    tested = {"psycopg": "3.3.1", "psycopg-binary": "3.3.1", "fastapi": "0.115.2"}
    rows, problems = resolution_report(packaged_versions(package), REQUIREMENTS, tested)
    assert problems == []  # uvloop's marker is false on Linux: not expected in the package
    notes = {row.name: row.note for row in rows}
    assert notes == {"fastapi": "", "psycopg": "OLDER than tested", "psycopg-binary": "OLDER than tested"}
    lines = format_report(rows)
    assert lines[0].split() == ["package", "packaged", "tested", "pyproject"]
    assert lines[2].split() == ["psycopg", "3.2.9", "3.3.1", ">=3.2", "OLDER", "than", "tested"]
    assert lines[3].split() == ["psycopg-binary", "3.2.9", "3.3.1", "OLDER", "than", "tested"]


def test_a_version_pyproject_does_not_allow_fails_in_one_line(package: Path) -> None:
    out = io.StringIO()
    requirements = ["psycopg[binary]>=3.3", "fastapi>=0.115", "redis>=5"]
    with pytest.raises(DependencyResolutionError) as raised:
        check_dependencies(package, requirements, Console(out=out))
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        "redis is not in the package (pyproject: redis>=5); "
        "psycopg 3.2.9 was packaged, pyproject wants psycopg[binary]>=3.3"
    )
    assert "NOT ALLOWED by pyproject" in out.getvalue()  # the table was printed before failing


def test_the_projects_own_requirements_against_the_tested_environment(tmp_path: Path) -> None:
    """pyproject's dependencies at exactly the installed versions: nothing to say, nothing flagged."""
    requirements = runtime_requirements()
    names = [canonicalize_name(Requirement(req).name) for req in requirements]
    tested = installed_versions(names)
    for name, version in tested.items():
        assert version is not None, f"{name} is a dependency the tests run with"
        _dist_info(tmp_path, name, version)
    out = io.StringIO()
    rows = check_dependencies(tmp_path, requirements, Console(out=out))
    assert {row.note for row in rows} == {""}
    assert "older than tested" not in out.getvalue()


# -- the task invoke: once, with time to answer -----------------------------------------------------------


def test_the_task_client_never_retries_and_outwaits_the_function() -> None:
    config = task_client(PLAN.region, PLAN).meta.config
    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout == PLAN.cron_timeout_seconds + PLAN.task_invoke_margin_seconds
    assert config.read_timeout > PLAN.cron_timeout_seconds
    assert config.tcp_keepalive is True


def _payload(data: dict[str, Any]) -> StreamingBody:
    raw = json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_a_function_error_is_reported_once() -> None:
    client = task_client(PLAN.region, PLAN)
    error = {"errorMessage": "relation jobs already exists", "errorType": "DuplicateTable"}
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _payload(error)},
            {"FunctionName": "my-cron", "Payload": json.dumps({"task": "migrate"}).encode()},
        )
        with pytest.raises(RuntimeError) as raised:
            invoke_task(client, "my-cron", "migrate")
        stub.assert_no_pending_responses()
    assert str(raised.value) == "task migrate failed in my-cron: relation jobs already exists"


@pytest.fixture
def attempts() -> list[str]:
    return []


def _counting(client: Any, attempts: list[str]) -> Any:
    client.meta.events.register("before-send.lambda.Invoke", lambda **kwargs: attempts.append("invoke"))
    return client


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers, like an invoke whose function runs long."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_an_unanswered_invoke_is_not_repeated(
    silent_endpoint: str, attempts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", silent_endpoint)
    short = dataclasses.replace(PLAN, cron_timeout_seconds=1, task_invoke_margin_seconds=1)
    client = _counting(task_client(PLAN.region, short), attempts)
    with pytest.raises(RuntimeError, match="may still be running, so it was not invoked again"):
        invoke_task(client, "my-cron", "migrate")
    assert attempts == ["invoke"]


def test_a_refused_connection_is_not_retried(attempts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    client = _counting(task_client(PLAN.region, PLAN), attempts)
    with pytest.raises(EndpointConnectionError):
        invoke_task(client, "my-cron", "migrate")
    assert attempts == ["invoke"]
