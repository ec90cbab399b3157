"""Failure types a job can raise; the delivery layer maps them onto QStash's retry semantics."""


class JobError(Exception):
    retryable = True


class RetryableJobError(JobError):
    """Transient: answer 5xx so QStash delivers the message again later."""


class PermanentJobError(JobError):
    """Retrying cannot help: answer 489 with Upstash-NonRetryable-Error so the message goes to the DLQ."""

    retryable = False


class BudgetExhaustedError(PermanentJobError):
    """The month's AI budget cannot cover the job's next model call (app/spend_guard.py): the call is not made,
    the job ends `budget_exhausted` (answered 489, not retried) and waits for `python -m app.deferred --replay`."""
