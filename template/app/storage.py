"""S3 client (botocore, see app/aws.py) with bounded timeouts and retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from app.aws import AwsClients
from app.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def create_s3(settings: Settings, *, timeout_seconds: float = 10.0, aws: AwsClients | None = None) -> S3Client:
    """`aws`: the process's clients (app.resources); a fresh session when None. The client has botocore's
    operations (put_object, head_object, generate_presigned_url...), not boto3's transfer helpers."""
    client = (aws or AwsClients()).client(
        "s3", region=settings.aws_region, timeout_seconds=timeout_seconds, endpoint_url=settings.s3_endpoint_url
    )
    return cast("S3Client", client)
