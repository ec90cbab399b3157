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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable

from qstash import Receiver
from qstash.errors import SignatureError

from app.settings import Settings


class InvalidSignatureError(Exception):
    """The request was not signed by QStash for this URL and body; nothing may run."""


class SignatureVerifier:
    def __init__(
        self,
        settings: Settings,
        *,
        clock_tolerance_seconds: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._keys = (
            settings.qstash_current_signing_key.get_secret_value(),
            settings.qstash_next_signing_key.get_secret_value(),
        )
        self._receiver = Receiver(current_signing_key=self._keys[0], next_signing_key=self._keys[1])
        self._tolerance = clock_tolerance_seconds
        self._clock = clock
        self._sleep = sleep

    def verify(self, *, signature: str | None, body: bytes, url: str) -> None:
        if not signature:
            raise InvalidSignatureError("missing Upstash-Signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # The SDK hashes str.encode(); a body that is not UTF-8 cannot be verified faithfully.
            raise InvalidSignatureError("body is not UTF-8") from None
        try:
            self._receiver_verify(signature, text, url)
            return
        except InvalidSignatureError as exc:
            rejected = exc
        wait = self.seconds_early(signature)
        if wait is None:
            raise rejected
        self._sleep(wait)
        self._receiver_verify(signature, text, url)

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


def _claims(segment: str) -> dict[str, object]:
    """The token's claims, unverified (only read to know when it is due)."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
