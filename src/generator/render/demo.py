"""`betagen demo`: the whole product on one machine, offline.

Renders the reference answers (examples/reference.yml) into a fresh folder, runs the rendered
repository's own tour (`python -m devstack.tour` with this interpreter, from inside the render: the local
stack, a signed video job, a duplicate, one cron tick per worker, everything stopped), then prints the
plan's budget summary. Exit 0 when the tour passed, its exit code otherwise; SIGINT or SIGTERM stop the
tour (which stops its stack) before this process exits.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from generator.plan.plan import Plan

TOUR_MODULE = "devstack.tour"


def reference_answers() -> dict[str, Any]:
    import yaml

    from generator.render.project import examples_dir

    data = yaml.safe_load((examples_dir() / "reference.yml").read_text(encoding="utf-8")) or {}
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


def budget_summary(plan: Plan) -> str:
    from generator.reports.markdown import totals_table

    return "budget (monthly, from the plan; prices dated and sourced in the rendered README):\n" + totals_table(plan)


def _die_with_parent() -> Callable[[], None] | None:
    """preexec_fn: the tour gets SIGTERM if we die without stopping it (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG

    return arm


def run_tour(project: Path, out: TextIO) -> int:
    """Runs the tour as a child, forwarding SIGINT/SIGTERM to it and waiting while it stops its stack."""
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", TOUR_MODULE],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        preexec_fn=_die_with_parent(),
    )
    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if process.poll() is None:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            out.flush()
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if process.poll() is None:
            process.terminate()
            process.wait(30)
    if received and code == 0:
        code = 128 + received[0]
    return code


def run_demo(keep: Path | None = None, out: TextIO = sys.stdout) -> int:
    from generator.render.project import new_project

    started = time.monotonic()

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    scratch = None if keep is not None else Path(tempfile.mkdtemp(prefix="betagen-demo-"))
    dest = keep if keep is not None else scratch / "my-beta"  # type: ignore[operator]
    try:
        say(f"==> render the reference answers (examples/reference.yml) into {dest}")
        plan = new_project(dest, reference_answers(), defaults=True)
        workers = ", ".join(w.name for w in plan.workers)
        say(f"    {sum(1 for p in dest.rglob('*') if p.is_file())} files; workers: {workers}")
        say(f"==> run the rendered repository's tour: {Path(sys.executable).name} -m {TOUR_MODULE} (cwd {dest})")
        code = run_tour(dest, out)
        say(budget_summary(plan))
        if code == 0:
            say(f"demo passed in {time.monotonic() - started:.1f} s")
        else:
            say(f"demo failed: the tour exited {code}")
        return code
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
