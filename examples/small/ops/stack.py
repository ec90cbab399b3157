"""The stack through change sets: a readable diff, a confirmation, then CloudFormation does the work.

CloudFormation rolls a failed create or update back by itself; we wait for it and report. Waits poll with
progress lines instead of botocore's silent waiters.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ops.console import Console

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
STABLE_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
ROLLED_BACK = {"UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_FAILED",
    "DELETE_FAILED",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_FAILED",
    "DELETE_COMPLETE",
}


class StackError(Exception):
    pass


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

    def status(self) -> str | None:
        """The stack's status, or None when it does not exist."""
        try:
            stacks = self.client.describe_stacks(StackName=self.name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return str(stacks[0]["StackStatus"]) if stacks else None

    def outputs(self) -> dict[str, str]:
        stack = self.client.describe_stacks(StackName=self.name)["Stacks"][0]
        return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])}

    def create_change_set(self, template_body: str, name: str) -> ChangeSet:
        status = self.status()
        if status == "ROLLBACK_COMPLETE":
            # A failed first create leaves a stack that can only be deleted; deleting is the user's call.
            raise StackError(f"stack {self.name} is ROLLBACK_COMPLETE (its first create failed): delete it first")
        change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
        self.client.create_change_set(
            StackName=self.name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateBody=template_body,
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
            if status in ROLLED_BACK:
                raise StackError(f"stack {self.name} rolled back ({status}): {self.failure_reason()}")
            if status in FAILED:
                raise StackError(f"stack {self.name} is {status}: {self.failure_reason()}")
            waited = self._wait(waited, status)

    def failure_reason(self) -> str:
        try:
            events = self.client.describe_stack_events(StackName=self.name)["StackEvents"]
        except ClientError:
            return "no events"
        for event in events:  # newest first
            if str(event.get("ResourceStatus", "")).endswith("_FAILED") and event.get("ResourceStatusReason"):
                return f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}"
        return "see the stack events"

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
        try:
            events = self.client.describe_stack_events(StackName=self.name)["StackEvents"]
        except ClientError:
            return
        for event in reversed(events[:50]):
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
