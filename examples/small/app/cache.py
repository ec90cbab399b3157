"""Redis (or Valkey) client: delivery dedupe keys and short-lived caches."""

from __future__ import annotations

import redis

from app.settings import Settings


def create_redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
        decode_responses=True,
    )
