"""Credentials from Secrets Manager (moto server): read once per container, cached, read again when one is
refused and it was rotated (QStash signature, QStash API token, Azure AI key, cache AUTH token), at most once
per the plan's interval; the environment when no secret is named (local development and tests)."""

from __future__ import annotations

import json
import secrets as random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import redis

from app.ai import AIService, create_ai_client, text_prompt
from app.cache import create_redis
from app.plan import Plan
from app.publisher import QStashClients
from app.secrets import APP_SECRET_NAMES, AppSecrets, SecretReader, SecretsError
from app.settings import Settings
from app.signature import InvalidSignatureError, SignatureVerifier
from devstack.qstash_signer import sign
from tests.helpers import Services

BODY = b'{"probe": true}'


@pytest.fixture
def secretsmanager(services: Services, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The admin's client (boto3, as deploy.sh writes the secret); the app reads it with its own (app/aws.py),
    which finds moto through AWS_ENDPOINT_URL as the SDKs would."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", services.s3_endpoint)
    return boto3.client("secretsmanager", endpoint_url=services.s3_endpoint, region_name="us-east-1")


@pytest.fixture
def keys(services: Services) -> dict[str, str]:
    return {
        "QSTASH_TOKEN": services.qstash.token,
        "QSTASH_CURRENT_SIGNING_KEY": services.current_key,
        "QSTASH_NEXT_SIGNING_KEY": services.next_key,
        "AZURE_OPENAI_API_KEY": services.azure.api_key,
    }


@pytest.fixture
def app_secret(secretsmanager: Any, keys: dict[str, str]) -> str:
    arn: str = secretsmanager.create_secret(Name="app-secret-test", SecretString=json.dumps(keys))["ARN"]
    return arn


@pytest.fixture
def restore_standins(services: Services) -> Iterator[None]:
    token, api_key = services.qstash.token, services.azure.api_key
    yield
    services.qstash.token, services.azure.api_key = token, api_key


def _on_aws(settings: Settings, arn: str) -> Settings:
    """The settings as the stack gives them: the secret's ARN, no key in the environment."""
    return settings.model_copy(
        update={"app_secret_arn": arn, **{name.lower(): type(settings.qstash_token)("") for name in APP_SECRET_NAMES}}
    )


class Clock:
    """A monotonic clock the test moves: a re-read is allowed once the plan's interval has passed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app_secrets(settings: Settings, arn: str, plan: Plan, clock: Clock | None = None) -> AppSecrets:
    """The app's reader, with its own Secrets Manager client (app/aws.py) against moto."""
    interval = plan.secrets.reread_min_interval_seconds
    on_aws = _on_aws(settings, arn)
    return AppSecrets(on_aws, reread_min_interval_seconds=interval, clock=clock or Clock())


def _rotate(secretsmanager: Any, arn: str, **changes: str) -> dict[str, str]:
    current = json.loads(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({**current, **changes}))
    return {**current, **changes}


def test_without_an_arn_the_environment_is_used_and_nothing_is_read(settings: Settings, plan: Plan) -> None:
    values = AppSecrets(settings, reread_min_interval_seconds=plan.secrets.reread_min_interval_seconds)
    assert values.get("QSTASH_CURRENT_SIGNING_KEY") == settings.qstash_current_signing_key.get_secret_value()
    assert values.refresh({"QSTASH_TOKEN": "refused"}) is False
    assert values.reads == 0


def test_the_secret_is_read_once_and_cached(
    settings: Settings, plan: Plan, secretsmanager: Any, app_secret: str, keys: dict[str, str]
) -> None:
    values = _app_secrets(settings, app_secret, plan)
    assert values.reads == 0  # nothing is read before a credential is needed
    assert {name: values.get(name) for name in APP_SECRET_NAMES} == keys
    assert values.require("QSTASH_NEXT_SIGNING_KEY") == keys["QSTASH_NEXT_SIGNING_KEY"]
    assert values.reads == 1


def test_a_reread_happens_at_most_once_per_interval() -> None:
    """The throttle that keeps forged requests from making every call a billed Secrets Manager read."""

    class Store:
        def __init__(self) -> None:
            self.value, self.calls = "v1", 0

        def get_secret_string(self, secret_id: str) -> str:
            self.calls += 1
            return self.value

    now = [1000.0]
    store = Store()
    reader = SecretReader("arn:test", reread_min_interval_seconds=60, client=store, clock=lambda: now[0])
    assert reader.value() == "v1"
    store.value = "v2"
    assert reader.reread("v1") == "v1"  # read at t=1000, refused at t=1000: too soon to read again
    now[0] += 59
    assert reader.reread("v1") == "v1"
    assert store.calls == 1
    now[0] += 1
    assert reader.reread("v1") == "v2"
    assert reader.reread("v1") == "v2"  # another caller's refusal of the old value reads nothing more
    assert (store.calls, reader.reads) == (2, 2)


def test_a_malformed_or_incomplete_secret_is_named(
    settings: Settings, plan: Plan, secretsmanager: Any, app_secret: str
) -> None:
    secretsmanager.put_secret_value(SecretId=app_secret, SecretString=json.dumps({"QSTASH_TOKEN": "t"}))
    values = _app_secrets(settings, app_secret, plan)
    with pytest.raises(SecretsError, match=r"QSTASH_CURRENT_SIGNING_KEY is not set in secret arn:aws:secretsmanager"):
        values.require("QSTASH_CURRENT_SIGNING_KEY")
    secretsmanager.put_secret_value(SecretId=app_secret, SecretString="not json")
    with pytest.raises(SecretsError, match="is not a JSON object"):
        _app_secrets(settings, app_secret, plan).get("QSTASH_TOKEN")
    with pytest.raises(SecretsError, match=r"cannot read secret .*ResourceNotFoundException"):
        _app_secrets(settings, app_secret + "-gone", plan).get("QSTASH_TOKEN")


def test_signatures_with_a_rotated_key_are_accepted_after_one_reread(
    settings: Settings, plan: Plan, services: Services, secretsmanager: Any, app_secret: str
) -> None:
    clock = Clock()
    values = _app_secrets(settings, app_secret, plan, clock)
    interval = plan.secrets.reread_min_interval_seconds
    tolerance = plan.qstash.signature_clock_tolerance_seconds
    verifier = SignatureVerifier(settings, clock_tolerance_seconds=tolerance, secrets=values)
    url = services.public_base_url + "/workers/probe"
    verifier.verify(signature=sign(BODY, url, services.current_key), body=BODY, url=url)
    assert values.reads == 1

    # Upstash rotated twice since this container read the keys: QStash now signs with a key it never saw.
    clock.now += interval
    rotated = {"QSTASH_CURRENT_SIGNING_KEY": "sig_rotated_" + random.token_hex(12), "QSTASH_NEXT_SIGNING_KEY": "sig_n"}
    _rotate(secretsmanager, app_secret, **rotated)
    token = verifier.verify(signature=sign(BODY, url, rotated["QSTASH_CURRENT_SIGNING_KEY"]), body=BODY, url=url)
    assert token.jti
    assert values.reads == 2

    # Forged tokens: refused, and they cannot make every request read the secret (one read per interval).
    for _ in range(5):
        with pytest.raises(InvalidSignatureError):
            verifier.verify(signature=sign(BODY, url, "sig_attacker_" + random.token_hex(12)), body=BODY, url=url)
    assert values.reads == 2
    # A token our own key signed for another URL fails on its claims: no read either, whenever it comes.
    clock.now += interval
    with pytest.raises(InvalidSignatureError):
        verifier.verify(signature=sign(BODY, url + "x", rotated["QSTASH_CURRENT_SIGNING_KEY"]), body=BODY, url=url)
    assert values.reads == 2
    # Once the interval has passed, the next unknown key is worth one read again.
    with pytest.raises(InvalidSignatureError):
        verifier.verify(signature=sign(BODY, url, "sig_attacker_" + random.token_hex(12)), body=BODY, url=url)
    assert values.reads == 3


def test_a_rotated_qstash_token_is_read_again_after_a_refusal(
    settings: Settings,
    plan: Plan,
    services: Services,
    secretsmanager: Any,
    app_secret: str,
    restore_standins: None,
) -> None:
    clock = Clock()
    values = _app_secrets(settings, app_secret, plan, clock)
    clients = QStashClients(settings, values)
    assert clients.call(lambda client: client.schedule.list()) == []
    clock.now += plan.secrets.reread_min_interval_seconds
    services.qstash.token = "qstash-rotated-" + random.token_hex(8)  # the account's token changed...
    _rotate(secretsmanager, app_secret, QSTASH_TOKEN=services.qstash.token)  # ...and deploy.sh wrote it
    assert clients.call(lambda client: client.schedule.list()) == []
    assert values.reads == 2
    services.qstash.token = "qstash-not-in-the-secret"
    with pytest.raises(Exception, match="401"):
        clients.call(lambda client: client.schedule.list())
    assert values.reads == 2  # refused again within the interval: not read again


def test_a_rotated_azure_key_is_read_again_after_a_401(
    settings: Settings,
    plan: Plan,
    services: Services,
    secretsmanager: Any,
    app_secret: str,
    restore_standins: None,
) -> None:
    clock = Clock()
    values = _app_secrets(settings, app_secret, plan, clock)
    service = AIService(create_ai_client(_on_aws(settings, app_secret), values), values)
    model = next(worker.model for worker in plan.workers if worker.model)
    messages = text_prompt("system", "user")
    assert service.complete(model=model, messages=messages, max_tokens=16).completion_tokens > 0
    clock.now += plan.secrets.reread_min_interval_seconds
    services.azure.api_key = "azure-rotated-" + random.token_hex(8)
    _rotate(secretsmanager, app_secret, AZURE_OPENAI_API_KEY=services.azure.api_key)
    assert service.complete(model=model, messages=messages, max_tokens=16).completion_tokens > 0
    assert values.reads == 2  # the 401 made it read the key again
    assert len(services.azure.calls) == 2  # the stand-in answered both completions (the 401 is not recorded)


def test_the_cache_token_comes_from_the_secret_and_is_read_again_after_a_rotation(
    settings: Settings, plan: Plan, services: Services, secretsmanager: Any
) -> None:
    # The local server requires a password (devstack/redis.py); REDIS_URL carries it.
    local = urlsplit(services.redis_url)
    assert local.password
    admin = redis.Redis.from_url(services.redis_url)
    arn = secretsmanager.create_secret(Name="cache-auth-test", SecretString=local.password)["ARN"]
    clock = Clock()
    interval = plan.secrets.reread_min_interval_seconds
    reader = SecretReader(arn, reread_min_interval_seconds=interval, clock=clock)
    bare_url = f"redis://127.0.0.1:{local.port}/0"  # as the stack sets it: no password
    client = create_redis(settings.model_copy(update={"redis_url": type(settings.redis_url)(bare_url)}), reader)
    assert client.ping() is True
    assert reader.reads == 1
    rotated = "cache-rotated-" + random.token_hex(8)
    clock.now += interval
    try:
        admin.config_set("requirepass", rotated)
        secretsmanager.put_secret_value(SecretId=arn, SecretString=rotated)
        client.connection_pool.disconnect()  # the next command opens a connection: AUTH with the old token fails
        assert client.set("probe", "1") is True
        assert reader.reads == 2
        # Without the secret there is no password at all: the server refuses.
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare_url).ping()
    finally:
        redis.Redis.from_url(bare_url, password=rotated).config_set("requirepass", local.password)
