"""The S3 client of the workers (app/aws.py: SigV4 over httpx, bounded timeouts and retries)."""

from __future__ import annotations

from app.aws import AwsClients, S3Client
from app.settings import Settings


def create_s3(settings: Settings, *, timeout_seconds: float = 10.0, aws: AwsClients | None = None) -> S3Client:
    """`aws`: the process's clients (app.resources); fresh ones, reading the environment, when None. Path-style
    requests to S3_ENDPOINT_URL when it is set (local stand-ins), virtual-hosted ones to AWS otherwise."""
    return (aws or AwsClients()).s3(
        region=settings.aws_region, timeout_seconds=timeout_seconds, endpoint_url=settings.s3_endpoint_url
    )
