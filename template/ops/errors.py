"""Errors as types: the CLI turns each into one line and an exit code."""

from __future__ import annotations


class OpsError(Exception):
    """A failure the user can act on; its message is one line and names what failed."""

    exit_code = 1


class PreflightError(OpsError):
    """Something is missing or wrong before anything changed (tools, variables, account, region, QStash, Azure)."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        # Each problem was already printed on its own line; the summary only counts them.
        super().__init__(f"{len(problems)} preflight problem(s), each listed above; nothing was changed")


class StackError(OpsError):
    """CloudFormation refused or undid a change (a failed change set, a rollback, a wait that ran out)."""


class NotConfirmedError(OpsError):
    """The user answered no: what was shown was not applied."""


class StackBusyError(OpsError):
    """Another CloudFormation operation runs on the stack; a change set now would be refused."""

    def __init__(self, stack: str, status: str) -> None:
        self.stack = stack
        self.status = status
        super().__init__(f"stack {stack} is {status}: wait until it finishes, then run the deploy again")


class StackStuckError(OpsError):
    """ROLLBACK_FAILED or DELETE_FAILED: CloudFormation cannot go on until someone deals with the resources it
    could not delete. The recovery commands were printed above; nothing was attempted."""

    exit_code = 3

    def __init__(self, stack: str, status: str, resources: list[str], commands: list[str]) -> None:
        self.stack = stack
        self.status = status
        self.resources = resources
        self.commands = commands
        stuck = ", ".join(resources) if resources else "some of its resources"
        super().__init__(
            f"stack {stack} is {status}: CloudFormation could not delete {stuck}; "
            "run the recovery commands listed above, then deploy again"
        )


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
