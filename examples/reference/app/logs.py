"""The one place the service's logging is set up (the workers' app and the cron Lambda's tasks).

LOG_LEVEL applies to this project's own loggers only. The SDKs log every request at DEBUG with its headers,
and AWS's carry the session token (botocore logs `X-Amz-Security-Token` several times per call); QStash's
and Azure AI's carry the bearer token and the api-key. So their loggers stay at WARNING whatever LOG_LEVEL
says: a DEBUG session to chase a bug in a worker never writes a credential to CloudWatch.
"""

from __future__ import annotations

import logging

# Every library the service calls that logs requests, responses or connection strings below WARNING.
SDK_LOGGERS = (
    "boto3",
    "botocore",
    "s3transfer",
    "urllib3",
    "httpx",
    "httpcore",
    "openai",
    "qstash",
    "redis",
    "psycopg",
    "mangum",
)


def configure_logging(level: str) -> None:
    """LOG_LEVEL for the root logger (with a stderr handler where none is installed yet: Lambda installs
    its own), WARNING for the SDKs."""
    resolved = logging.getLevelName(level.strip().upper())
    if not isinstance(resolved, int):
        raise ValueError(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got {level!r})")
    logging.basicConfig(level=resolved)
    # basicConfig changes nothing when a handler exists (Lambda's runtime installs one): set the level itself.
    logging.getLogger().setLevel(resolved)
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
