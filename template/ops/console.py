"""Progress output: one line per step and per wait, on stderr-free stdout so CI logs read top to bottom.

Nothing secret is ever passed here: callers print names and identifiers, never values.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Console:
    def __init__(self, out: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out or sys.stdout
        self.clock = clock
        self._started = clock()

    def _elapsed(self) -> str:
        return f"[{self.clock() - self._started:6.1f}s]"

    def step(self, name: str, text: str) -> None:
        self.line(f"==> {name}: {text}")

    def line(self, text: str) -> None:
        print(f"{self._elapsed()} {text}", file=self.out, flush=True)

    def detail(self, text: str) -> None:
        print(f"{' ' * 10}{text}", file=self.out, flush=True)
