"""QStash API client for outgoing messages (notifications) and schedules."""

from __future__ import annotations

from qstash import QStash

from app.settings import Settings


def create_qstash(settings: Settings) -> QStash:
    # The SDK's own retry loop would hide failures inside a job; the job's retry is QStash's delivery retry.
    return QStash(
        settings.qstash_token.get_secret_value(),
        retry=False,
        base_url=settings.qstash_url,
    )
