"""Child processes that cannot outlive the process that started them.

On Linux each child asks the kernel (prctl PR_SET_PDEATHSIG) for a signal when its parent dies, so a
killed test run, tour or `make dev` leaves no server listening. Start children from the main thread:
the signal follows the thread that forked, not the process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen (None where the kernel has no such switch)."""
    if not sys.platform.startswith("linux"):
        return None

    import ctypes

    # Resolved here, in the parent: the child may already run as another user that cannot import modules.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    number = int(sig)

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0)

    return arm


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Ask a child to exit with `sig`; kill it if it has not within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
