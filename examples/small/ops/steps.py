"""Run named steps; when one fails, undo what this run changed (newest first) and name the step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ops.console import Console
from ops.errors import OpsError, StepFailedError

T = TypeVar("T")


class Run:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def on_failure(self, what: str, undo: Callable[[], None]) -> None:
        """Register how to undo a change this run just made."""
        self._undo.append((what, undo))

    def step(self, name: str, text: str, action: Callable[[], T]) -> T:
        self.console.step(name, text)
        try:
            return action()
        except Exception as exc:
            reason = str(exc) if isinstance(exc, OpsError) else f"{type(exc).__name__}: {exc}"
            self.console.line(f"FAILED {name}: {reason}")
            self.undo()
            raise StepFailedError(name, reason) from exc

    def undo(self) -> None:
        while self._undo:
            what, undo = self._undo.pop()
            self.console.line(f"undo: {what}")
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - keep undoing the rest; say what could not be undone
                self.console.line(f"undo FAILED ({what}): {type(exc).__name__}: {exc}")
