"""QUICK-START's local-development commands work as printed: `make dev`'s stack (python -m devstack.dev),
then each `devstack.send` line of the guide, run as written (with this interpreter for `.venv/bin/python`).
A payload that is not JSON is refused in one line."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.plan import Plan

PROJECT_DIR = Path(__file__).resolve().parents[1]
VENV_PYTHON = ".venv/bin/python"


def _env(state: Path) -> dict[str, str]:
    """This environment without a shell's `make dev` values (devstack.send prefers them to the state file)."""
    own = {k: v for k, v in os.environ.items() if k not in ("QSTASH_URL", "QSTASH_TOKEN", "PUBLIC_BASE_URL")}
    return {**own, "DEVSTACK_STATE_DIR": str(state)}


def quick_start_send_lines() -> list[str]:
    text = (PROJECT_DIR / "QUICK-START.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if "-m devstack.send" in line]


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`make dev` in the background; its state folder is a temporary one, so a running `make dev` is untouched."""
    state = tmp_path_factory.mktemp("devstack-state")
    env = _env(state)
    log = (state / "dev.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.dev"], cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while not (state / "dev.env").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((state / "dev.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        log.close()


def _run(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    assert argv[0] == VENV_PYTHON, line
    return subprocess.run(
        [sys.executable, *argv[1:]], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_quick_start_lists_one_send_line_per_worker(plan: Plan) -> None:
    lines = quick_start_send_lines()
    assert [shlex.split(line)[3] for line in lines] == [w.name for w in plan.workers]


def test_every_quick_start_send_line_works_as_printed(dev_stack: dict[str, str]) -> None:
    for line in quick_start_send_lines():
        result = _run(line, dev_stack)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        assert result.stdout.rstrip().endswith("message delivered"), result.stdout
        assert re.search(r"attempt retried=0: 200 \{\"status\":\"done\"", result.stdout), result.stdout


@pytest.mark.parametrize("payload", ["not json", "{'video_key': 1}", '{"a": '])
def test_a_payload_that_is_not_json_gets_one_line(payload: str, plan: Plan) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack.send", plan.workers[0].name, payload],
        cwd=PROJECT_DIR,
        env=_env(PROJECT_DIR / "devstack" / "no-such-state"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("devstack.send: the payload is not JSON (")


def test_no_running_stack_gets_one_line(plan: Plan, tmp_path: Path) -> None:
    nobody = "http://127.0.0.1:9"
    (tmp_path / "dev.env").write_text(f"QSTASH_URL={nobody}\nQSTASH_TOKEN=t\nPUBLIC_BASE_URL={nobody}\n")
    result = subprocess.run(
        [sys.executable, "-m", "devstack.send", plan.workers[0].name],
        cwd=PROJECT_DIR,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"devstack.send: QStash at {nobody} did not answer (ConnectError): is `make dev` running?\n"
