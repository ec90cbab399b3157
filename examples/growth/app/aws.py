"""The AWS clients of one process: one botocore session, and each client made from it once.

Why one session: a botocore session reads the endpoints file (~1.3 MB of JSON), resolves the credentials and
loads each service's model once, and every client made from it reuses them. A cold start on AWS reads up to
three secrets (the app secret, the database password, the cache token) and may call S3: with one session per
client it paid for all of that three or four times (benchmarks/cold_start.py measures a cold start).

Why botocore and not boto3: the service uses clients only (no resources, no managed transfers), and
`boto3.client` adds its own session layer and imports (the S3 transfer manager) on top of botocore's.
Each `Resources` (one per process on Lambda, one per test) owns one `AwsClients`; code outside it gets a fresh
one, which reads the environment again, as a new boto3 session would.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.session import Session


class AwsClients:
    def __init__(self) -> None:
        self._session: Session | None = None
        self._clients: dict[tuple[str, str | None, str | None, float], Any] = {}
        self._lock = threading.Lock()  # botocore sessions are not safe to create clients from concurrently

    def client(
        self, service: str, *, region: str | None, timeout_seconds: float, endpoint_url: str | None = None
    ) -> Any:
        """The `service` client for `region` (and `endpoint_url`, a local stand-in), made on first use."""
        key = (service, region, endpoint_url or None, timeout_seconds)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config
                from botocore.session import Session

                if self._session is None:
                    self._session = Session()
                config = Config(
                    region_name=region,
                    connect_timeout=timeout_seconds,
                    read_timeout=timeout_seconds,
                    # A cold start waits on these calls: a few quick attempts, then the job's own failure handling.
                    retries={"max_attempts": 3, "mode": "standard"},
                    # S3: SigV4 everywhere (presigned URLs included); the other services sign with it anyway.
                    signature_version="s3v4" if service == "s3" else None,
                )
                self._clients[key] = self._session.create_client(
                    service, region_name=region, endpoint_url=endpoint_url or None, config=config
                )
            return self._clients[key]
