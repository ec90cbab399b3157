"""A scripted tour of this repository on one machine, offline: `python -m devstack.tour` (`make tour`).

Starts the local stack (devstack.stack: PostgreSQL with the migrations applied, Redis, moto S3, the QStash
and Azure AI stand-ins, the app under uvicorn); then, for each worker in app/plan.json
(devstack/tour_steps/), seeds what it needs and sends it a job: event workers through the real `qstash`
SDK to the QStash stand-in, which delivers it signed (and once more, to show the duplicate ignored),
cron workers as one tick of the schedule synced from the plan. Prints what happened, then shows the AI spend
guard (devstack/tour_budget.py): the month-to-date AI spend against the plan, a job refused past a tiny demo
budget (489, the model not called) and replayed once. Stops everything.

Exit 0 when every step did what it should, 1 otherwise, 128 + the signal number when interrupted
(SIGINT, SIGTERM): the stack is stopped either way, and its processes die with this one regardless.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

from devstack.stack import LocalStack
from devstack.tour_support import Tour, TourError, say

# The tour waits milliseconds where QStash waits seconds to minutes between retries.
BACKOFF_SCALE = 0.001


# Seconds a stop may take after SIGINT/SIGTERM before the tour exits regardless (its children die with it).
STOP_GRACE_SECONDS = 30
_received: list[int] = []


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # One interruption is enough: ignore repeats while the stack stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _received.append(signum)
    # Library code may swallow the exception below (a broad `except`); the exit code and this watchdog
    # do not depend on it.
    watchdog = threading.Timer(STOP_GRACE_SECONDS, os._exit, args=(128 + signum,))
    watchdog.daemon = True
    watchdog.start()
    raise Interrupted(signum)


def main() -> int:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    app_log = Path(tempfile.mkdtemp(prefix="devstack-tour-")) / "app.log"
    stack = LocalStack(backoff_scale=BACKOFF_SCALE, app_log=app_log, progress=lambda line: say(f"    {line}"))
    tour: Tour | None = None
    code = 0
    try:
        say("==> start the local stack on 127.0.0.1")
        stack.start()
        tour = Tour(stack)
        tour.run()
    except Interrupted:
        pass
    except TourError as exc:
        say(f"tour failed: {exc} (app log: {app_log})")
        code = 1
    except Exception as exc:  # noqa: BLE001 - any failure is a failed tour, reported on one line
        say(f"tour failed: {type(exc).__name__}: {exc} (app log: {app_log})")
        code = 1
    finally:
        if _received:
            say(f"tour interrupted by signal {_received[0]}; stopping everything")
        say("==> stop everything")
        try:
            if tour is not None:
                tour.close()
            stack.stop()
        except Interrupted:
            stack.stop()
    if _received:
        return 128 + _received[0]
    say(f"tour finished in {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
