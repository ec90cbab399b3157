"""QStash request signature verification: the `qstash` SDK's Receiver (current key, then next key), with a
clock tolerance that works.

QStash stamps `nbf` and `iat` with its own clock, in whole seconds ("Security",
https://upstash.com/docs/qstash/features/security, read 2026-11-25). A Lambda whose clock lags QStash's by a
second sees a fresh token as not yet valid, answers 401, and QStash retries a delivery that was fine.
`Receiver.verify` takes `clock_tolerance`, but qstash 3.4.0 hands it to PyJWT as `options={"leeway": ...}`,
which PyJWT ignores (it wants `leeway=`): the tolerance is zero whatever is passed. So the plan's tolerance
is passed (it takes effect once the SDK honours it) and, when the Receiver refuses a token that carries a
valid HMAC of one of our keys and is due within the tolerance, we wait until it is due and let the
Receiver verify it once more. Waiting cannot help an expired token, and a forged one never makes us wait.

A verified token's `jti` ("a unique id for this token", same page) and `exp` are handed back so the delivery
can refuse the same token replayed under another Upstash-Message-Id (app/replay.py). A body that is not
UTF-8 cannot go through the SDK (it hashes `str.encode()`): its token is checked over the raw bytes with
PyJWT (what the SDK uses, same claims), only to tell a correctly signed unreadable body (a permanent error)
from a forged one (401). Nothing runs for such a body either way.

The keys come from app/secrets.py (the app secret on AWS, read on the first delivery). A token that none of
them signed may be signed with a key rotated in since: the keys are read again (at most once per the plan's
interval) and, when they changed, the token is verified once more with the new ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from qstash import Receiver
from qstash.errors import SignatureError

from app.secrets import AppSecrets
from app.settings import Settings


class InvalidSignatureError(Exception):
    """The request was not signed by QStash for this URL and body; nothing may run."""


class UndecodableBodyError(Exception):
    """Signed by QStash for this URL and these bytes, but the body is not UTF-8: no worker can read it."""


@dataclass(frozen=True)
class VerifiedToken:
    jti: str
    expires_at: int  # the token's `exp`, seconds since the epoch


class SignatureVerifier:
    def __init__(
        self,
        settings: Settings,
        *,
        clock_tolerance_seconds: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        secrets: AppSecrets | None = None,
        reread_min_interval_seconds: float = 0,
    ) -> None:
        # On AWS the keys come from the app secret, read on the first delivery (app/secrets.py).
        self._secrets = secrets or AppSecrets(settings, reread_min_interval_seconds=reread_min_interval_seconds)
        self._loaded: tuple[str, str] | None = None
        self._receiver_of_keys: Receiver | None = None
        self._tolerance = clock_tolerance_seconds
        self._clock = clock
        self._sleep = sleep

    def verify(self, *, signature: str | None, body: bytes, url: str) -> VerifiedToken:
        if not signature:
            raise InvalidSignatureError("missing Upstash-Signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._verify_raw(signature, body, url)
            raise UndecodableBodyError("body is not UTF-8") from None
        try:
            self._receiver_verify(signature, text, url)
            return _token(signature)
        except InvalidSignatureError as exc:
            rejected = exc
        if self._keys_rotated(signature):
            try:
                self._receiver_verify(signature, text, url)
                return _token(signature)
            except InvalidSignatureError as exc:
                rejected = exc
        wait = self.seconds_early(signature)
        if wait is None:
            raise rejected
        self._sleep(wait)
        self._receiver_verify(signature, text, url)
        return _token(signature)

    @property
    def _keys(self) -> tuple[str, str]:
        if self._loaded is None:
            self._loaded = (
                self._secrets.require("QSTASH_CURRENT_SIGNING_KEY"),
                self._secrets.require("QSTASH_NEXT_SIGNING_KEY"),
            )
        return self._loaded

    @property
    def _receiver(self) -> Receiver:
        if self._receiver_of_keys is None:
            current, following = self._keys
            self._receiver_of_keys = Receiver(current_signing_key=current, next_signing_key=following)
        return self._receiver_of_keys

    def _keys_rotated(self, signature: str) -> bool:
        """A token none of our keys signed may be signed with a key rotated in since this container read them:
        read them again (at most once per the plan's interval, so forged tokens cannot make every request a
        Secrets Manager call). True when they changed; the token must then be verified again."""
        parts = signature.split(".")
        if len(parts) == 3 and self._signed_by_us(parts):
            return False  # our key signed it: it failed for another reason (URL, body, time)
        current, following = self._keys
        if not self._secrets.refresh({"QSTASH_CURRENT_SIGNING_KEY": current, "QSTASH_NEXT_SIGNING_KEY": following}):
            return False
        self._loaded = None
        self._receiver_of_keys = None
        return True

    def _verify_raw(self, signature: str, body: bytes, url: str) -> None:
        """The Receiver's checks (HS256 with one of our keys, iss, sub, exp, nbf, body hash), over raw bytes."""
        import jwt

        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
        for key in self._keys:
            if not key:
                continue
            try:
                claims = jwt.decode(
                    signature,
                    key,
                    algorithms=["HS256"],
                    issuer="Upstash",
                    options={"require": ["iss", "sub", "exp", "nbf"]},
                    leeway=self._tolerance,
                )
            except jwt.PyJWTError:
                continue
            if claims.get("sub") == url and str(claims.get("body", "")).rstrip("=") == digest:
                return
        raise InvalidSignatureError("signature rejected")

    def seconds_early(self, signature: str) -> float | None:
        """How long until a token signed with one of our keys is due, when that is within the tolerance.

        None for anything else: not signed by us, already due (then it failed for another reason), or
        early by more than the tolerance (a clock that far off is a problem to fix, not to wait out).
        """
        parts = signature.split(".")
        if len(parts) != 3 or not self._signed_by_us(parts):
            return None
        claims = _claims(parts[1])
        due = [value for name in ("nbf", "iat") if type(value := claims.get(name)) is int]
        if not due:
            return None
        early = max(due) - self._clock()
        return early if 0 < early <= self._tolerance else None

    def _signed_by_us(self, parts: list[str]) -> bool:
        """Only a gate for waiting: the Receiver still verifies everything afterwards."""
        try:
            given = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except (binascii.Error, ValueError):
            return False
        signing_input = f"{parts[0]}.{parts[1]}".encode()
        return any(
            hmac.compare_digest(hmac.new(key.encode(), signing_input, hashlib.sha256).digest(), given)
            for key in self._keys
            if key
        )

    def _receiver_verify(self, signature: str, text: str, url: str) -> None:
        try:
            # url is always passed: with url=None the SDK skips the `sub` (destination) check.
            self._receiver.verify(signature=signature, body=text, url=url, clock_tolerance=self._tolerance)
        except SignatureError as exc:
            raise InvalidSignatureError("signature rejected") from exc
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # A well-signed token without a usable `body` claim escapes the SDK as KeyError (3.4.0).
            raise InvalidSignatureError("signature claims incomplete") from exc


def _token(signature: str) -> VerifiedToken:
    """The id and expiry of a token the Receiver has just verified."""
    claims = _claims(signature.split(".")[1])
    jti, exp = claims.get("jti"), claims.get("exp")
    if not isinstance(jti, str) or not jti or type(exp) is not int:
        # Without an id a captured token could be replayed under any message id until it expires.
        raise InvalidSignatureError("signature claims incomplete")
    return VerifiedToken(jti=jti, expires_at=exp)


def _claims(segment: str) -> dict[str, object]:
    """The token's claims, unverified (only read to know when it is due)."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
