"""What a worker module provides and what it receives for one job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg
from pydantic import BaseModel

from app.errors import PermanentJobError
from app.jobs import UsageLog
from app.plan import WorkerPlan
from app.prompt_budget import fit_prompt
from app.prompts import ChatMessage, Completion
from app.resources import Resources
from app.spend_guard import guard_for

P = TypeVar("P", bound=BaseModel)


@dataclass
class Job:
    """One message being processed. `conn` is inside the job's transaction: write effects through it."""

    message_id: str
    retried: int
    worker: WorkerPlan
    conn: psycopg.Connection
    resources: Resources
    usage: UsageLog
    # `time.monotonic()` by which this message's work must end (the plan's message_deadline_seconds after it
    # arrived): model calls are cut off there and the message fails as retryable, well before QStash's timeout.
    deadline: float
    _after_commit: list[Callable[[], None]] = field(default_factory=list)
    _model_calls: int = 0  # calls made so far: the next one's place in the job (app/spend_guard.py)

    def model(self) -> str:
        if not self.worker.model:
            raise PermanentJobError(f"worker {self.worker.name} has no model in the plan")
        return self.worker.model

    def complete(self, messages: list[ChatMessage]) -> Completion:
        """One model call within the worker's limits: the prompt cut to its input cap, the answer to its output
        cap, the call to the message's deadline, its cost to the month's AI budget (app/spend_guard.py: raises
        BudgetExhaustedError instead of calling when the budget cannot cover it; an earlier run of this message
        that was answered is reused, not paid for again)."""
        limits = self.worker.limits
        model = self.model()
        if limits.max_input_tokens is None or limits.max_output_tokens is None:
            raise PermanentJobError(f"worker {self.worker.name} has no token caps in the plan")
        fitted = fit_prompt(messages, limits.max_input_tokens)
        max_tokens = limits.max_output_tokens
        seq, self._model_calls = self._model_calls, self._model_calls + 1
        completion = guard_for(self.resources).call(
            message_id=self.message_id,
            seq=seq,
            worker=self.worker,
            messages=fitted,
            call=lambda: self.resources.ai.complete(
                model=model, messages=fitted, max_tokens=max_tokens, deadline=self.deadline
            ),
        )
        self.usage.add(completion)
        return completion

    def after_commit(self, action: Callable[[], None]) -> None:
        """Side effects that must not be seen unless the transaction commits (e.g. cache writes)."""
        self._after_commit.append(action)


@dataclass(frozen=True)
class WorkerSpec(Generic[P]):
    payload: type[P]
    run: Callable[[Job, P], dict[str, Any]]
    # (key, model) of the worker's own plan section, if it has one: checked when the app starts, so a
    # plan that lacks it stops the service at once instead of failing every delivery.
    plan_section: tuple[str, type[BaseModel]] | None = None
