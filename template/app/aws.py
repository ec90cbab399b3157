"""The AWS calls of one process, signed by app/sigv4.py and sent over one httpx connection pool.

Why not botocore: the app calls five operations, and a cold start paid ~40 ms to import botocore and ~40 ms more
per client to load its endpoint and service JSON (benchmarks/cold_start.py). Here a client is a few lines: the
signature, the endpoint, the error code. boto3 stays for ops/ (deploy scripts), devstack and the tests.

Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda sets from the
function's role. Endpoints: the AWS one of the region, unless AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL
name another (a local stand-in), as the SDKs read them: "Service-specific endpoints", AWS SDKs and Tools reference
guide (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html, read 2026-11-25). S3 uses
virtual-hosted URLs on AWS and path-style ones on a local endpoint (S3_ENDPOINT_URL, app/storage.py).

Retries, as the SDKs' standard mode: three attempts in all, with exponential backoff and full jitter, for
transient failures (no answer, 500/502/503/504, throttling codes); "Retry behavior", AWS SDKs and Tools reference
guide (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html, read 2026-11-25). A cold start
waits on these calls: a few quick attempts, then the job's own failure handling.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.sigv4 import EMPTY_SHA256, Credentials, MissingCredentialsError, presigned_url, signed_headers, uri_encode

if TYPE_CHECKING:
    import httpx

MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 20.0
_TRANSIENT_STATUSES = {500, 502, 503, 504}
# The standard mode's throttling and transient codes (the retry page above, and the services' error lists).
_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalServiceError",
}
_XML_CODE = re.compile(r"<Code>([^<]{1,200})</Code>")


class AwsError(Exception):
    """An AWS call failed: `code` is the service's error code ("NoSuchKey", "AccessDenied",
    "ResourceNotFoundException"...), or "Unreachable" / "NoCredentials" when no answer came; `status` is the HTTP
    status (None without an answer); `retryable` says whether trying later may succeed."""

    def __init__(self, code: str, status: int | None, message: str = "") -> None:
        super().__init__(code + (f" ({status})" if status else "") + (f": {message}" if message else ""))
        self.code = code
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in _TRANSIENT_STATUSES or self.code in _RETRYABLE_CODES


def _error_code(response: httpx.Response, service: str) -> str:
    if service == "s3":
        found = _XML_CODE.search(response.text) if response.content else None
        # HEAD answers carry no body: the status is all there is, as botocore reports it.
        return found.group(1) if found else str(response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = {}
    raw = str(body.get("__type", "")) if isinstance(body, dict) else ""
    raw = raw or response.headers.get("x-amzn-ErrorType", "")
    if not raw:  # a refusal before the service (a bad signature, say) may come as XML, as S3's errors do
        found = _XML_CODE.search(response.text)
        raw = found.group(1) if found else ""
    # JSON protocols may prefix the code with its namespace ("com.amazonaws...#Code") or suffix it (":http://...").
    return raw.rsplit("#", 1)[-1].split(":", 1)[0] or str(response.status_code)


def endpoint_from_environ(service_env_name: str, environ: Mapping[str, str]) -> str:
    """AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else "" (AWS's own endpoint)."""
    return environ.get(f"AWS_ENDPOINT_URL_{service_env_name}") or environ.get("AWS_ENDPOINT_URL") or ""


class AwsClients:
    """One per process (app.resources): the credentials, read once, and one HTTP connection pool for every call.
    Code outside a Resources gets a fresh one, which reads the environment again."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self._http: httpx.Client | None = None
        self._clients: dict[tuple[str, str, str, float], S3Client | SecretsManagerClient] = {}
        self._lock = threading.Lock()

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ

    def credentials(self) -> Credentials:
        try:
            return Credentials.from_environ(self._environ)
        except MissingCredentialsError as exc:
            raise AwsError("NoCredentials", None, str(exc)) from exc

    def region(self) -> str:
        return self._environ.get("AWS_REGION") or self._environ.get("AWS_DEFAULT_REGION") or ""

    def s3(self, *, region: str, timeout_seconds: float, endpoint_url: str | None = None) -> S3Client:
        """The S3 client of `region`; path-style against `endpoint_url` (a local stand-in) when one is given."""
        endpoint = endpoint_url or endpoint_from_environ("S3", self._environ)
        key = ("s3", region, endpoint, timeout_seconds)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = S3Client(self, region=region, endpoint_url=endpoint, timeout=timeout_seconds)
            client = self._clients[key]
        assert isinstance(client, S3Client)
        return client

    def secretsmanager(self, *, region: str, timeout_seconds: float) -> SecretsManagerClient:
        endpoint = endpoint_from_environ("SECRETS_MANAGER", self._environ)
        key = ("secretsmanager", region, endpoint, timeout_seconds)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = SecretsManagerClient(
                    self, region=region, endpoint_url=endpoint, timeout=timeout_seconds
                )
            client = self._clients[key]
        assert isinstance(client, SecretsManagerClient)
        return client

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                import httpx

                self._http = httpx.Client(follow_redirects=False, trust_env=False)
            return self._http

    def send(
        self,
        *,
        service: str,
        region: str,
        method: str,
        url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> httpx.Response:
        """The signed request, tried up to MAX_ATTEMPTS times while the failure is transient; AwsError otherwise.
        Each attempt is signed anew (its X-Amz-Date is the time it is sent)."""
        import httpx

        credentials = self.credentials()
        payload_sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        extra = dict(headers or {})
        if service == "s3":
            extra["x-amz-content-sha256"] = payload_sha256  # S3 requires it, and checks it against the body
        http = self._client()
        for attempt in range(MAX_ATTEMPTS):
            signed = signed_headers(
                credentials,
                method=method,
                url=url,
                headers=extra,
                payload_sha256=payload_sha256,
                region=region,
                service=service,
                now=datetime.now(UTC),
            )
            error: AwsError
            try:
                response = http.request(method, url, headers=signed, content=body, timeout=timeout)
            except httpx.TransportError as exc:
                error = AwsError("Unreachable", None, type(exc).__name__)
            else:
                if response.status_code < 300:
                    return response
                error = AwsError(_error_code(response, service), response.status_code)
            if not error.retryable or attempt == MAX_ATTEMPTS - 1:
                raise error
            time.sleep(random.random() * min(MAX_BACKOFF_SECONDS, 2.0**attempt))
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class ObjectHead:
    size: int
    content_type: str


class S3Client:
    """The S3 operations the workers use."""

    def __init__(self, aws: AwsClients, *, region: str, endpoint_url: str, timeout: float) -> None:
        self._aws = aws
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/")
        self._timeout = timeout

    def url(self, bucket: str, key: str = "") -> str:
        """Virtual-hosted on AWS (bucket.s3.region.amazonaws.com), path-style on a local endpoint; the key
        URI-encoded once, its slashes kept (S3's canonical URI, app/sigv4.py)."""
        path = "/" + uri_encode(key, keep_slash=True)
        if self.endpoint_url:
            return f"{self.endpoint_url}/{bucket}{path if key else ''}"
        return f"https://{bucket}.s3.{self.region}.amazonaws.com{path}"

    def _send(
        self, method: str, bucket: str, key: str = "", *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        url = self.url(bucket, key)
        return self._aws.send(
            service="s3", region=self.region, method=method, url=url, timeout=self._timeout, headers=headers, body=body
        )

    def head_bucket(self, bucket: str) -> None:
        self._send("HEAD", bucket)

    def head_object(self, bucket: str, key: str) -> ObjectHead:
        """The object's size and type; AwsError with status 404 when there is no such object."""
        response = self._send("HEAD", bucket, key)
        return ObjectHead(int(response.headers.get("content-length", "0")), response.headers.get("content-type", ""))

    def get_object(self, bucket: str, key: str) -> bytes:
        return self._send("GET", bucket, key).content

    def put_object(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        self._send("PUT", bucket, key, body=body, headers={"Content-Type": content_type})

    def presigned_get_url(self, bucket: str, key: str, *, expires_seconds: int) -> str:
        """A URL anyone may GET the object with until it expires (a model reads a thumbnail through it)."""
        return presigned_url(
            self._aws.credentials(),
            method="GET",
            url=self.url(bucket, key),
            region=self.region,
            service="s3",
            expires_seconds=expires_seconds,
            now=datetime.now(UTC),
        )


class SecretsManagerClient:
    """GetSecretValue, over the service's JSON 1.1 protocol."""

    def __init__(self, aws: AwsClients, *, region: str, endpoint_url: str, timeout: float) -> None:
        self._aws = aws
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/") or f"https://secretsmanager.{region}.amazonaws.com"
        self._timeout = timeout

    def get_secret_string(self, secret_id: str) -> str:
        response = self._aws.send(
            service="secretsmanager",
            region=self.region,
            method="POST",
            url=self.endpoint_url + "/",
            timeout=self._timeout,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "secretsmanager.GetSecretValue",
            },
            body=json.dumps({"SecretId": secret_id}).encode(),
        )
        value = response.json().get("SecretString")
        if not isinstance(value, str):
            raise AwsError("NoSecretString", response.status_code, "the secret holds binary data")
        return value
