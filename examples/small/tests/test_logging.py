"""LOG_LEVEL=DEBUG never writes a credential: the SDKs' loggers stay at WARNING (app/logs.py)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import boto3
import pytest

from app.api import create_app
from app.logs import SDK_LOGGERS, configure_logging
from app.plan import Plan
from app.settings import Settings
from app.storage import create_s3
from tests.helpers import Services


@pytest.fixture
def restore_levels() -> Iterator[None]:
    names = ("", *SDK_LOGGERS)
    before = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def session_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Temporary credentials in the environment, as on Lambda, read by a new default boto3 session."""
    token = f"IQoJb3JpZ2luX2VjE-test-session-token-{secrets.token_hex(16)}"
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    boto3.setup_default_session()  # the session's credentials were resolved before the token was set
    yield token
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    boto3.setup_default_session()


def _s3_round_trip(settings: Settings, services: Services) -> None:
    s3 = create_s3(settings)
    s3.put_object(services.bucket, "probe.txt", b"probe", content_type="text/plain")
    assert s3.get_object(services.bucket, "probe.txt") == b"probe"


def test_debug_level_logs_no_session_token(
    settings: Settings,
    plan: Plan,
    services: Services,
    session_token: str,
    caplog: pytest.LogCaptureFixture,
    restore_levels: None,
) -> None:
    create_app(settings.model_copy(update={"log_level": "DEBUG"}), plan)  # the app's own logging setup
    caplog.set_level(logging.DEBUG)

    _s3_round_trip(settings, services)
    logging.getLogger("app.probe").debug("app debug line")

    assert logging.getLogger().level == logging.DEBUG
    assert "app debug line" in caplog.text  # DEBUG reaches the app's own loggers
    assert session_token not in caplog.text
    assert all(logging.getLogger(name).level == logging.WARNING for name in SDK_LOGGERS)

    # The app's AWS client (app/aws.py) logs no header even with its HTTP loggers at DEBUG, and signs with the token.
    caplog.clear()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    _s3_round_trip(settings, services)
    assert "send_request_headers" in caplog.text  # httpcore did log at DEBUG
    assert session_token not in caplog.text


def test_an_unknown_log_level_is_named(restore_levels: None) -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"):
        configure_logging("CHATTY")
