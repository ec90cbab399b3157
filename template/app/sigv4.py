"""AWS Signature Version 4: the Authorization header of a request, and a presigned URL (pure functions).

The app calls four AWS operations (S3 HeadObject/PutObject/GetObject/HeadBucket, Secrets Manager
GetSecretValue); botocore would load its endpoint and service JSON for them, ~40 ms each on a cold start
(benchmarks/cold_start.py). The algorithm, from "Create a signed AWS API request" (AWS Identity and Access
Management user guide, https://docs.aws.amazon.com/general/latest/gr/sigv4-create-canonical-request.html,
read 2026-11-25):
  canonical request = method, canonical URI, canonical query, canonical headers, signed headers, payload hash
  string to sign    = "AWS4-HMAC-SHA256", the time, the scope (date/region/service/aws4_request), the
                      canonical request's SHA-256
  signing key       = HMAC chain of "AWS4" + secret key over the date, region, service and "aws4_request"
The same page: every service but S3 URI-encodes each path segment twice; S3 once and without normalising the
path. tests/test_sigv4.py checks it against AWS's published test suite and against moto with signature checks on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class MissingCredentialsError(Exception):
    """The environment has no access key: nothing can be signed."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """The variables Lambda sets from the function's role (and the tests and devstack set by hand)."""
        env = os.environ if environ is None else environ
        key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
        if not key or not secret:
            raise MissingCredentialsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
        return cls(key, secret, env.get("AWS_SESSION_TOKEN", ""))


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """Every byte but the unreserved characters (A-Z a-z 0-9 - _ . ~) as %XY, upper-case hex (the page above)."""
    return quote(value, safe="/~" if keep_slash else "~")


def amz_date(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def _canonical_uri(path: str, service: str) -> str:
    path = path or "/"
    if service == "s3":
        return path  # already encoded once by the caller (s3_url), never normalised
    return uri_encode(path, keep_slash=True)


def _canonical_query(query: Mapping[str, str]) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    cleaned = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    names = sorted(cleaned)
    return "".join(f"{name}:{cleaned[name]}\n" for name in names), ";".join(names)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def signature(
    credentials: Credentials,
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
    region: str,
    service: str,
    now: datetime,
) -> tuple[str, str, str]:
    """(signature, scope, signed header names) of a request whose `headers` are all signed (host included)."""
    canonical_headers, signed = _canonical_headers(headers)
    canonical = "\n".join(
        (
            method,
            _canonical_uri(path, service),
            _canonical_query(query),
            canonical_headers,
            signed,
            payload_sha256,
        )
    )
    date = amz_date(now)
    scope = f"{date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    key = signing_key(credentials.secret_access_key, date[:8], region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), scope, signed


def signed_headers(
    credentials: Credentials,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    region: str,
    service: str,
    now: datetime,
    query: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`headers` plus Host, X-Amz-Date, the session token and Authorization: what to send, all of it signed.
    `url` has no query string (pass it as `query`); its path is already URI-encoded for S3 (s3_url)."""
    parts = urlsplit(url)
    out = {"Host": parts.netloc, **headers, "X-Amz-Date": amz_date(now)}
    if credentials.session_token:
        out["X-Amz-Security-Token"] = credentials.session_token
    sig, scope, signed = signature(
        credentials,
        method=method,
        path=parts.path,
        query=query or {},
        headers=out,
        payload_sha256=payload_sha256,
        region=region,
        service=service,
        now=now,
    )
    out["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed}, Signature={sig}"
    )
    return out


def presigned_url(
    credentials: Credentials, *, method: str, url: str, region: str, service: str, expires_seconds: int, now: datetime
) -> str:
    """`url` signed in its query string ("Authenticating Requests: Using Query Parameters", the S3 API
    reference, same algorithm): anyone holding it may `method` it until it expires; only Host is signed."""
    parts = urlsplit(url)
    date = amz_date(now)
    query = {
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{credentials.access_key_id}/{date[:8]}/{region}/{service}/aws4_request",
        "X-Amz-Date": date,
        "X-Amz-Expires": str(expires_seconds),
        "X-Amz-SignedHeaders": "host",
    }
    if credentials.session_token:
        query["X-Amz-Security-Token"] = credentials.session_token
    sig, _, _ = signature(
        credentials,
        method=method,
        path=parts.path,
        query=query,
        headers={"Host": parts.netloc},
        payload_sha256=UNSIGNED_PAYLOAD,
        region=region,
        service=service,
        now=now,
    )
    return f"{url}?{_canonical_query(query)}&X-Amz-Signature={sig}"
