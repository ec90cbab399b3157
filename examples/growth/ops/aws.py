"""boto3 clients for one region. AWS_ENDPOINT_URL (boto3's own variable) points them at a local moto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

# Adaptive retries absorb throttling during long waits; the waits themselves are ours (with progress).
_CONFIG = Config(retries={"max_attempts": 8, "mode": "adaptive"})


@dataclass
class Clients:
    cloudformation: Any
    lambda_: Any
    rds: Any
    elasticache: Any
    s3: Any
    secretsmanager: Any
    cloudwatch: Any
    budgets: Any
    sts: Any
    ce: Any

    @classmethod
    def for_region(cls, region: str) -> Clients:
        session = boto3.session.Session(region_name=region)

        def client(name: str) -> Any:
            return session.client(name, config=_CONFIG)  # type: ignore[call-overload]

        return cls(
            cloudformation=client("cloudformation"),
            lambda_=client("lambda"),
            rds=client("rds"),
            elasticache=client("elasticache"),
            s3=client("s3"),
            secretsmanager=client("secretsmanager"),
            cloudwatch=client("cloudwatch"),
            # Budgets is a global service whose endpoint lives in us-east-1.
            budgets=session.client("budgets", region_name="us-east-1", config=_CONFIG),
            sts=client("sts"),
            # Cost Explorer's endpoint, like Budgets', is in us-east-1 whatever the stack's region.
            ce=session.client("ce", region_name="us-east-1", config=_CONFIG),
        )
