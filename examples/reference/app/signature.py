"""QStash request signature verification (the `qstash` SDK's Receiver, current key then next key)."""

from __future__ import annotations

from qstash import Receiver
from qstash.errors import SignatureError

from app.settings import Settings


class InvalidSignatureError(Exception):
    """The request was not signed by QStash for this URL and body; nothing may run."""


class SignatureVerifier:
    def __init__(self, settings: Settings) -> None:
        self._receiver = Receiver(
            current_signing_key=settings.qstash_current_signing_key.get_secret_value(),
            next_signing_key=settings.qstash_next_signing_key.get_secret_value(),
        )

    def verify(self, *, signature: str | None, body: bytes, url: str) -> None:
        if not signature:
            raise InvalidSignatureError("missing Upstash-Signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # The SDK hashes str.encode(); a body that is not UTF-8 cannot be verified faithfully.
            raise InvalidSignatureError("body is not UTF-8") from None
        try:
            # url is always passed: with url=None the SDK skips the `sub` (destination) check.
            self._receiver.verify(signature=signature, body=text, url=url)
        except SignatureError as exc:
            raise InvalidSignatureError("signature rejected") from exc
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # A well-signed token without a usable `body` claim escapes the SDK as KeyError (3.4.0).
            raise InvalidSignatureError("signature claims incomplete") from exc
