"""Errors as types: the CLI turns each into one line and an exit code."""

from __future__ import annotations


class OpsError(Exception):
    """A failure the user can act on; its message is one line and names what failed."""

    exit_code = 1


class PreflightError(OpsError):
    """Something is missing before anything changed (tools, variables, identity, region)."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        # Each problem was already printed on its own line; the summary only counts them.
        super().__init__(f"{len(problems)} preflight problem(s), each listed above")


class StepFailedError(OpsError):
    """A deploy or rollback step failed; what that run changed has been undone."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"step '{step}' failed: {reason}")


class VerifyFailedError(OpsError):
    def __init__(self, failed: list[str]) -> None:
        self.failed = failed
        super().__init__("verify failed: " + ", ".join(failed))
