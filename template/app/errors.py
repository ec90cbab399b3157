"""Failure types a job can raise; the delivery layer maps them onto QStash's retry semantics."""


class JobError(Exception):
    retryable = True


class RetryableJobError(JobError):
    """Transient: answer 5xx so QStash delivers the message again later."""


class PermanentJobError(JobError):
    """Retrying cannot help: answer 489 with Upstash-NonRetryable-Error so the message goes to the DLQ."""

    retryable = False
