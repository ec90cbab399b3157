"""The stack through change sets: a readable diff, a confirmation, then CloudFormation does the work.

CloudFormation rolls a failed create or update back by itself; we wait for it and report. Waits poll with
progress lines instead of botocore's silent waiters. A stack CloudFormation cannot move on from
(ROLLBACK_FAILED, DELETE_FAILED) is reported with the commands that recover it, never touched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ops.console import Console
from ops.errors import StackBusyError, StackError, StackStuckError

__all__ = ["ChangeSet", "Stack", "StackError", "Undeleted", "recovery_commands"]

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
STABLE_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
ROLLED_BACK = {"UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
# Statuses that need a person: CloudFormation could not delete something and stops there.
STUCK = {"ROLLBACK_FAILED", "DELETE_FAILED"}
FAILED = {
    "CREATE_FAILED",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_FAILED",
    "DELETE_COMPLETE",
}
# Statuses a change set can be created on (anything *_IN_PROGRESS is refused by CloudFormation).
CREATABLE = {None, "REVIEW_IN_PROGRESS"}
# CloudFormation's reason on the resources it stopped creating after the first failure: not the cause.
CANCELLED = "Resource creation cancelled"


@dataclass
class ChangeSet:
    name: str
    change_type: str  # CREATE or UPDATE
    changes: list[dict[str, Any]] = field(default_factory=list)
    empty: bool = False

    def describe(self) -> list[str]:
        if self.empty:
            return ["no changes"]
        marks = {"Add": "+", "Modify": "~", "Remove": "-", "Import": ">", "Dynamic": "?"}
        lines = []
        for change in self.changes:
            rc = change.get("ResourceChange", {})
            action = rc.get("Action", "?")
            replacement = rc.get("Replacement")
            note = {"True": " (REPLACEMENT)", "Conditional": " (may replace)"}.get(str(replacement), "")
            lines.append(f"{marks.get(action, '?')} {rc.get('LogicalResourceId')} [{rc.get('ResourceType')}]{note}")
        return lines


@dataclass(frozen=True)
class Undeleted:
    """A resource whose deletion failed, from the stack events."""

    logical_id: str
    resource_type: str
    physical_id: str
    reason: str

    def describe(self) -> str:
        return f"{self.logical_id} ({self.resource_type} {self.physical_id}): {self.reason}"


def recovery_commands(stack: str, status: str, undeleted: list[Undeleted], region: str) -> list[str]:
    """The AWS CLI commands that get a ROLLBACK_FAILED or DELETE_FAILED stack out of the way.

    Flags as the AWS CLI reference gives them (read 2026-11-25): "modify-db-instance"
    (https://docs.aws.amazon.com/cli/latest/reference/rds/modify-db-instance.html: --db-instance-identifier,
    --no-deletion-protection, --apply-immediately) and "delete-stack"
    (https://docs.aws.amazon.com/cli/latest/reference/cloudformation/delete-stack.html: --deletion-mode
    FORCE_DELETE_STACK deletes a stack stuck in DELETE_FAILED and skips the resources that failed).
    """
    commands = [
        f"aws rds modify-db-instance --db-instance-identifier {resource.physical_id} --no-deletion-protection"
        f" --apply-immediately --region {region}"
        for resource in undeleted
        if resource.resource_type == "AWS::RDS::DBInstance" and resource.physical_id
    ]
    commands.append(f"aws cloudformation delete-stack --stack-name {stack} --region {region}")
    commands.append(f"aws cloudformation wait stack-delete-complete --stack-name {stack} --region {region}")
    if status == "DELETE_FAILED":
        # The last resort leaves what could not be deleted in place (and billed): say so next to it.
        commands.append(
            f"aws cloudformation delete-stack --stack-name {stack} --deletion-mode FORCE_DELETE_STACK"
            f" --region {region}   # only if the delete fails again: keeps the resources above, delete them by hand"
        )
    return commands


class Stack:
    def __init__(
        self,
        client: Any,
        name: str,
        console: Console,
        *,
        poll_seconds: float = 10.0,
        timeout_seconds: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.name = name
        self.console = console
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    @property
    def region(self) -> str:
        return str(self.client.meta.region_name)

    def _describe(self) -> dict[str, Any] | None:
        try:
            stacks = self.client.describe_stacks(StackName=self.name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def status(self) -> str | None:
        """The stack's status, or None when it does not exist."""
        described = self._describe()
        return str(described["StackStatus"]) if described else None

    def outputs(self) -> dict[str, str]:
        stack = self.client.describe_stacks(StackName=self.name)["Stacks"][0]
        return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])}

    def parameter_keys(self) -> set[str]:
        """The parameters the deployed stack has (UsePreviousValue is refused for any other key)."""
        described = self._describe() or {}
        return {str(p["ParameterKey"]) for p in described.get("Parameters", [])}

    def check_changeable(self) -> str | None:
        """The status, when a change set can be made from it; raises for the states that need a person."""
        status = self.status()
        if status in STUCK:
            raise self.stuck(status)
        if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise StackBusyError(self.name, status)
        return status

    def create_change_set(
        self, template_body: str, name: str, parameters: list[dict[str, Any]] | None = None
    ) -> ChangeSet:
        status = self.status()
        change_type = "CREATE" if status in CREATABLE else "UPDATE"
        self.client.create_change_set(
            StackName=self.name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateBody=template_body,
            Parameters=parameters or [],
            Capabilities=CAPABILITIES,
            Description="betagen deploy",
        )
        waited = 0.0
        while True:
            described = self.client.describe_change_set(StackName=self.name, ChangeSetName=name)
            status = described["Status"]
            if status == "CREATE_COMPLETE":
                return ChangeSet(name, change_type, list(described.get("Changes", [])))
            if status == "FAILED":
                reason = str(described.get("StatusReason", ""))
                if any(marker in reason for marker in NO_CHANGES):
                    self.delete_change_set(name)
                    return ChangeSet(name, change_type, empty=True)
                self.delete_change_set(name)
                raise StackError(f"change set failed: {reason}")
            waited = self._wait(waited, f"change set {status}")

    def delete_change_set(self, name: str) -> None:
        with contextlib.suppress(ClientError):  # already gone: nothing to clean up
            self.client.delete_change_set(StackName=self.name, ChangeSetName=name)

    def execute(self, change_set: ChangeSet) -> str:
        """Execute and wait; returns the final status or raises StackError after CloudFormation's rollback."""
        self.client.execute_change_set(StackName=self.name, ChangeSetName=change_set.name)
        return self.wait_stable()

    def wait_stable(self) -> str:
        waited = 0.0
        seen_events: set[str] = set()
        while True:
            status = self.status() or "DELETE_COMPLETE"
            self._print_new_events(seen_events)
            if status in STABLE_OK:
                return status
            if status == "ROLLBACK_COMPLETE":
                raise StackError(
                    f"the first create of {self.name} failed and CloudFormation removed what it had made"
                    f" (ROLLBACK_COMPLETE): {self.first_failure()}"
                )
            if status in ROLLED_BACK:
                raise StackError(f"stack {self.name} rolled back ({status}): {self.failure_reason()}")
            if status in STUCK:
                raise self.stuck(status)
            if status in FAILED:
                raise StackError(f"stack {self.name} is {status}: {self.failure_reason()}")
            waited = self._wait(waited, status)

    def delete(self) -> None:
        """Delete the stack and wait until it is gone (used on an empty ROLLBACK_COMPLETE stack only)."""
        self.client.delete_stack(StackName=self.name)
        waited = 0.0
        while True:
            status = self.status()
            if status is None:
                return
            if status in STUCK:
                raise self.stuck(status)
            waited = self._wait(waited, status)

    def _events(self) -> list[dict[str, Any]]:
        try:
            return list(self.client.describe_stack_events(StackName=self.name)["StackEvents"])
        except ClientError:
            return []

    def failure_reason(self) -> str:
        for event in self._events():  # newest first
            if str(event.get("ResourceStatus", "")).endswith("_FAILED") and event.get("ResourceStatusReason"):
                return f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}"
        return "see the stack events"

    def first_failure(self) -> str:
        """Why a create failed: the oldest failure that is not CloudFormation cancelling the rest."""
        for event in reversed(self._events()):  # oldest first
            reason = str(event.get("ResourceStatusReason") or "")
            if event.get("ResourceStatus") == "CREATE_FAILED" and reason and CANCELLED not in reason:
                return f"{event['LogicalResourceId']}: {reason}"
        return self.failure_reason()

    def undeleted(self) -> list[Undeleted]:
        """The resources whose last deletion failed, newest first, each once."""
        found: dict[str, Undeleted] = {}
        settled: set[str] = set()
        for event in self._events():  # newest first: the first event seen per resource is its latest state
            logical = str(event.get("LogicalResourceId", ""))
            if logical == self.name or logical in settled:
                continue
            settled.add(logical)
            if event.get("ResourceStatus") == "DELETE_FAILED":
                found[logical] = Undeleted(
                    logical_id=logical,
                    resource_type=str(event.get("ResourceType", "")),
                    physical_id=str(event.get("PhysicalResourceId", "")),
                    reason=str(event.get("ResourceStatusReason", "")),
                )
        return list(found.values())

    def stuck(self, status: str) -> StackStuckError:
        """Print what could not be deleted and how to recover; the caller raises the returned error."""
        undeleted = self.undeleted()
        commands = recovery_commands(self.name, status, undeleted, self.region)
        self.console.line(f"stack {self.name} is {status}: CloudFormation stopped; nothing else was attempted")
        for resource in undeleted:
            self.console.detail(f"not deleted: {resource.describe()}")
        self.console.detail("recover with (then run the deploy again):")
        for command in commands:
            self.console.detail(f"  {command}")
        return StackStuckError(self.name, status, [r.logical_id for r in undeleted], commands)

    def last_update_failed(self) -> bool:
        return self.status() in {"UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED"}

    def roll_back(self, *, dry_run: bool) -> str:
        """Bring a stack whose last update failed back to a stable, previous state."""
        status = self.status()
        if status == "UPDATE_ROLLBACK_FAILED":
            self.console.detail("stack: continuing the rollback CloudFormation could not finish")
            if not dry_run:
                self.client.continue_update_rollback(StackName=self.name)
                return self._wait_rollback()
        elif status == "UPDATE_IN_PROGRESS":
            self.console.detail("stack: cancelling the update in progress")
            if not dry_run:
                self.client.cancel_update_stack(StackName=self.name)
                return self._wait_rollback()
        return str(status)

    def _wait_rollback(self) -> str:
        try:
            return self.wait_stable()
        except StackError as exc:
            if "UPDATE_ROLLBACK_COMPLETE" in str(exc):
                return "UPDATE_ROLLBACK_COMPLETE"
            raise

    def _print_new_events(self, seen: set[str]) -> None:
        for event in reversed(self._events()[:50]):
            event_id = str(event.get("EventId"))
            if event_id in seen:
                continue
            seen.add(event_id)
            reason = f" ({event['ResourceStatusReason']})" if event.get("ResourceStatusReason") else ""
            self.console.detail(f"{event.get('LogicalResourceId')}: {event.get('ResourceStatus')}{reason}")

    def _wait(self, waited: float, what: str) -> float:
        if waited >= self.timeout_seconds:
            raise StackError(f"gave up waiting after {waited:.0f}s ({what})")
        self.console.line(f"    waiting: {what}")
        self.sleep(self.poll_seconds)
        return waited + self.poll_seconds
