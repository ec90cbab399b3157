"""Errors a user can cause, each printable as one line."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit code 2."""

    exit_code = 2


class AnswerError(UserError):
    """An answer is invalid. Names the answer (as copier.yml spells it) and what is allowed."""

    def __init__(self, field: str, problem: str, allowed: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.allowed = allowed
        text = f"{field}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


class AnswersFileError(UserError):
    """The answers file cannot be read or parsed."""
