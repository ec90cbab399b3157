"""A route loads what it uses: importing the Lambda handler loads no SDK a route may not need, and a signed
delivery to the failure callback (database, cache, signature) answers without loading botocore or the AI client.
Start-up leaves the garbage collector on, its objects frozen (app/main.py). On AWS the secrets and the bucket
share one client (app/aws.py: SigV4 over httpx), and no route loads botocore.

In a fresh interpreter, as a cold Lambda starts: this process has imported everything already.
benchmarks/cold_start.py measures what these imports cost (`make bench-cold-start`).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.aws import AwsClients
from app.plan import Plan
from app.resources import Resources
from app.secrets import SecretReader, secrets_manager_client
from app.settings import Settings
from app.storage import create_s3
from devstack.lambda_event import function_url_event
from devstack.qstash_signer import delivery_headers
from tests.helpers import Services, new_message_id

ROOT = Path(__file__).resolve().parent.parent
# Loaded only by the routes that call S3 or a model (httpcore, with the HTTP client); boto3, botocore, the openai
# SDK and pydantic.v1 by none (a return annotation FastAPI turns into a response model loads pydantic.v1).
ON_DEMAND = ("boto3", "botocore", "openai", "httpcore", "pydantic.v1")
# What every signed route uses: the job bookkeeping, the delivery dedupe, the signature.
EVERY_ROUTE = ("psycopg", "psycopg_pool", "redis", "qstash")

_CHILD = """
import json, sys
event = json.loads(sys.stdin.read())
watched = json.loads(sys.argv[1])
import gc
import app.main
assert gc.isenabled() and gc.get_freeze_count() > 0, "start-up must leave the collector on, its objects frozen"
imported = sorted(name for name in watched if name in sys.modules)
response = app.main.handler(event, None)
answered = sorted(name for name in watched if name in sys.modules)
app.main.app.state.resources.close()
print(json.dumps({"status": response["statusCode"], "imported": imported, "answered": answered}))
"""


def test_a_route_loads_only_what_it_uses(services: Services, plan: Plan) -> None:
    route = plan.qstash.failure_callback_route
    body = json.dumps({"sourceMessageId": "msg_source", "url": "https://x.test/w", "status": 500}).encode()
    headers = delivery_headers(
        body, services.public_base_url + route, services.current_key, message_id=new_message_id()
    )
    event = function_url_event("POST", route, body, headers)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([*ON_DEMAND, *EVERY_ROUTE])],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**services.env, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert not set(seen["imported"]) & set(ON_DEMAND)
    assert not set(seen["answered"]) & set(ON_DEMAND)
    assert set(EVERY_ROUTE) <= set(seen["answered"])


_AWS_CHILD = """
import json, sys
from app.aws import AwsClients
from app.secrets import SecretReader
from app.settings import Settings
from app.storage import create_s3
aws = AwsClients()
arn, bucket = sys.argv[1], sys.argv[2]
value = SecretReader(arn, reread_min_interval_seconds=60, aws=lambda: aws).value()
create_s3(Settings(), aws=aws).put_object(bucket, "cold/probe.txt", b"probe", content_type="text/plain")
print(json.dumps({"value": value, "loaded": sorted(n for n in ("boto3", "botocore") if n in sys.modules)}))
"""


def test_reading_a_secret_and_writing_to_s3_loads_no_botocore(settings: Settings, services: Services, s3: Any) -> None:
    """What a cold start on AWS does first (a secret, then the bucket), in a fresh interpreter: the SDK stays out."""
    manager = boto3.client("secretsmanager", endpoint_url=services.s3_endpoint, region_name=settings.aws_region)
    arn = manager.create_secret(Name=f"cold-{secrets.token_hex(4)}", SecretString="s3cr3t")["ARN"]
    done = subprocess.run(
        [sys.executable, "-c", _AWS_CHILD, arn, services.bucket],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**services.env, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": services.s3_endpoint},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"value": "s3cr3t", "loaded": []}
    assert s3.get_object(Bucket=services.bucket, Key="cold/probe.txt")["Body"].read() == b"probe"


def test_the_secrets_and_the_bucket_share_one_client(
    settings: Settings, plan: Plan, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold start on AWS reads up to three secrets (app, database, cache) and may call S3: one AwsClients (the
    credentials, one connection pool) and one Secrets Manager client per region serve them all."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", services.s3_endpoint)  # Secrets Manager on moto, as the tests' AWS
    manager = boto3.client("secretsmanager", endpoint_url=services.s3_endpoint, region_name=settings.aws_region)
    suffix = secrets.token_hex(4)
    app_secret = json.dumps({"QSTASH_CURRENT_SIGNING_KEY": services.current_key})
    app_arn = manager.create_secret(Name=f"cold-app-{suffix}", SecretString=app_secret)["ARN"]
    cache_arn = manager.create_secret(Name=f"cold-cache-{suffix}", SecretString="cache-token")["ARN"]
    resources = Resources(settings.model_copy(update={"app_secret_arn": app_arn}), plan)
    try:
        assert resources.secrets.get("QSTASH_CURRENT_SIGNING_KEY") == services.current_key
        interval = plan.secrets.reread_min_interval_seconds
        cache = SecretReader(cache_arn, reread_min_interval_seconds=interval, aws=lambda: resources.aws)
        assert cache.value() == "cache-token"
        client = secrets_manager_client(app_arn, 5.0, resources.aws)
        assert secrets_manager_client(cache_arn, 5.0, resources.aws) is client  # same region: one client
        resources.s3.head_bucket(services.bucket)
        assert create_s3(settings, aws=resources.aws) is resources.s3
        assert create_s3(settings, aws=AwsClients()) is not resources.s3  # another process's clients
    finally:
        resources.close()
