"""S3 client (boto3) with bounded timeouts and retries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from app.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def create_s3(settings: Settings, *, timeout_seconds: float = 10.0) -> S3Client:
    config = Config(
        region_name=settings.aws_region,
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
    )
    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
