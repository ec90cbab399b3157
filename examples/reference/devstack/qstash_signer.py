"""Signs requests exactly as QStash does, so tests can deliver messages to the workers.

QStash sends `Upstash-Signature`: an HS256 JWT whose claims are iss="Upstash", sub=<destination URL>,
exp (5 minutes), nbf, iat, jti and body=base64url(sha256(raw body)) without padding.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import jwt

TOKEN_LIFETIME_SECONDS = 300


def body_digest(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")


def sign(
    body: bytes,
    url: str,
    signing_key: str,
    *,
    now: float | None = None,
    claims: dict[str, Any] | None = None,
    drop_claims: tuple[str, ...] = (),
) -> str:
    """`claims` overrides and `drop_claims` exist so tests can forge the malformed tokens an attacker would."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": "Upstash",
        "sub": url,
        "exp": issued + TOKEN_LIFETIME_SECONDS,
        "nbf": issued,
        "iat": issued,
        "jti": f"jwt_{uuid.uuid4().hex}",
        "body": body_digest(body),
    }
    payload.update(claims or {})
    for name in drop_claims:
        payload.pop(name, None)
    return jwt.encode(payload, signing_key, algorithm="HS256")


def delivery_headers(
    body: bytes,
    url: str,
    signing_key: str,
    *,
    message_id: str | None = None,
    retried: int = 0,
) -> dict[str, str]:
    """The headers QStash adds to a delivery that our workers read."""
    return {
        "Upstash-Signature": sign(body, url, signing_key),
        "Upstash-Message-Id": message_id or f"msg_{uuid.uuid4().hex}",
        "Upstash-Retried": str(retried),
        "Content-Type": "application/json",
    }
