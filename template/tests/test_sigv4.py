"""The app's AWS client (app/aws.py, app/sigv4.py) signs as AWS checks.

1. Known answers: AWS's published SigV4 test suite ("get-vanilla"; the suite's files as vendored by
   scratchstack-aws-signature 0.11.4,
   https://docs.rs/crate/scratchstack-aws-signature/latest/source/src/aws-sig-v4-test-suite/get-vanilla/get-vanilla.sreq,
   read 2026-11-25), and the presigned URL of "Authenticating Requests: Using Query Parameters (AWS Signature
   Version 4)" (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, read 2026-11-25).
   moto checks header signatures but not presigned URLs (with its access control on, a URL without an
   Authorization header fails inside moto), so the published example is what checks those.
2. A moto server of its own that authenticates every request once its set-up is done (moto's
   INITIAL_NO_AUTH_ACTION_COUNT: "IAM-like Access Control", https://github.com/getmoto/moto/blob/master/docs/docs/iam.rst,
   read 2026-11-25): S3 and Secrets Manager calls signed with an IAM user's key succeed, the same calls with a
   wrong secret key are refused, and the refusal maps to the error the callers handle.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from app.aws import AwsClients, AwsError
from app.secrets import SecretReader, SecretsError
from app.sigv4 import EMPTY_SHA256, Credentials, presigned_url, signed_headers

# The test suite's credentials and time (its README): AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY.
SUITE_CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
# The S3 page's example key id, written in two parts so that secret scanners do not take it for a real key.
S3_EXAMPLE_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
REGION = "us-east-1"
# Set-up calls moto lets through unauthenticated: create the user, its policy, its access key.
SETUP_ACTIONS = 3


def test_the_published_get_vanilla_example_signs_to_its_expected_signature() -> None:
    headers = signed_headers(
        SUITE_CREDENTIALS,
        method="GET",
        url="https://example.amazonaws.com/",
        headers={},
        payload_sha256=EMPTY_SHA256,
        region=REGION,
        service="service",
        now=SUITE_TIME,
    )
    assert headers["Host"] == "example.amazonaws.com"
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_the_published_presigned_url_example_signs_to_its_expected_signature() -> None:
    url = presigned_url(
        Credentials(S3_EXAMPLE_KEY_ID, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        method="GET",
        url="https://examplebucket.s3.amazonaws.com/test.txt",
        region=REGION,
        service="s3",
        expires_seconds=86400,
        now=datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert url == (
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={S3_EXAMPLE_KEY_ID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_a_session_token_is_signed_too() -> None:
    with_token = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token-1")
    common: dict[str, Any] = {
        "method": "GET",
        "url": "https://example.amazonaws.com/",
        "headers": {},
        "payload_sha256": EMPTY_SHA256,
        "region": REGION,
        "service": "service",
        "now": SUITE_TIME,
    }
    headers = signed_headers(with_token, **common)
    assert headers["X-Amz-Security-Token"] == "token-1"
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in headers["Authorization"]
    assert headers["Authorization"] != signed_headers(SUITE_CREDENTIALS, **common)["Authorization"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def authenticating_moto() -> Iterator[str]:
    """A moto server that checks every signature after SETUP_ACTIONS calls (the session's server checks none)."""
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def iam_key(authenticating_moto: str) -> dict[str, str]:
    """An IAM user allowed everything, and its access key: the only key moto accepts once set-up is over."""
    iam = boto3.client(
        "iam",
        endpoint_url=authenticating_moto,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="app")
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="app", PolicyName="all", PolicyDocument=json.dumps(allow_all))
    key = iam.create_access_key(UserName="app")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def seeded(authenticating_moto: str, iam_key: dict[str, str]) -> dict[str, str]:
    """A bucket and a secret, made by boto3 with the user's key (already authenticated calls)."""
    session = boto3.session.Session(
        aws_access_key_id=iam_key["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=iam_key["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    s3 = session.client("s3", endpoint_url=authenticating_moto)
    s3.create_bucket(Bucket="signed")
    manager = session.client("secretsmanager", endpoint_url=authenticating_moto)
    arn = manager.create_secret(Name="signed-secret", SecretString='{"k": "v"}')["ARN"]
    return {"bucket": "signed", "arn": arn}


def _aws(endpoint: str, key: dict[str, str], **overrides: str) -> AwsClients:
    return AwsClients({"AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint, **key, **overrides})


def test_signed_s3_and_secrets_manager_calls_are_accepted(
    authenticating_moto: str, iam_key: dict[str, str], seeded: dict[str, str]
) -> None:
    aws = _aws(authenticating_moto, iam_key)
    s3 = aws.s3(region=REGION, timeout_seconds=5, endpoint_url=authenticating_moto)
    key = "videos/a b+c~(1)/é.mp4"  # spaces, reserved and non-ASCII characters: the canonical URI's encoding
    s3.put_object(seeded["bucket"], key, b"\x00video", content_type="video/mp4")
    head = s3.head_object(seeded["bucket"], key)
    assert (head.size, head.content_type) == (6, "video/mp4")
    assert s3.get_object(seeded["bucket"], key) == b"\x00video"
    s3.head_bucket(seeded["bucket"])

    reader = SecretReader(seeded["arn"], reread_min_interval_seconds=60, aws=lambda: aws)
    assert reader.value() == '{"k": "v"}'


def test_a_missing_object_and_a_missing_secret_map_to_the_callers_errors(
    authenticating_moto: str, iam_key: dict[str, str], seeded: dict[str, str]
) -> None:
    aws = _aws(authenticating_moto, iam_key)
    s3 = aws.s3(region=REGION, timeout_seconds=5, endpoint_url=authenticating_moto)
    with pytest.raises(AwsError) as head:
        s3.head_object(seeded["bucket"], "no/such/key")
    assert (head.value.status, head.value.retryable) == (404, False)  # the video worker's permanent error
    with pytest.raises(AwsError) as get:
        s3.get_object(seeded["bucket"], "no/such/key")
    assert (get.value.code, get.value.retryable) == ("NoSuchKey", False)
    reader = SecretReader(seeded["arn"] + "-gone", reread_min_interval_seconds=60, aws=lambda: aws)
    with pytest.raises(SecretsError, match="ResourceNotFoundException"):
        reader.value()


def test_a_wrong_secret_key_is_refused(
    authenticating_moto: str, iam_key: dict[str, str], seeded: dict[str, str]
) -> None:
    aws = _aws(authenticating_moto, iam_key, AWS_SECRET_ACCESS_KEY="not-" + iam_key["AWS_SECRET_ACCESS_KEY"])
    s3 = aws.s3(region=REGION, timeout_seconds=5, endpoint_url=authenticating_moto)
    with pytest.raises(AwsError) as put:
        s3.put_object(seeded["bucket"], "forged.txt", b"x", content_type="text/plain")
    assert (put.value.status, put.value.code, put.value.retryable) == (403, "SignatureDoesNotMatch", False)
    reader = SecretReader(seeded["arn"], reread_min_interval_seconds=60, aws=lambda: aws)
    with pytest.raises(SecretsError, match=f"cannot read secret {seeded['arn']}: ") as read:
        reader.value()
    refused = read.value.__cause__
    assert isinstance(refused, AwsError)
    assert (refused.status, refused.code, refused.retryable) == (403, "SignatureDoesNotMatch", False)
    # Nothing was written by the refused call.
    good = _aws(authenticating_moto, iam_key).s3(region=REGION, timeout_seconds=5, endpoint_url=authenticating_moto)
    with pytest.raises(AwsError) as gone:
        good.head_object(seeded["bucket"], "forged.txt")
    assert gone.value.status == 404


def test_no_credentials_or_no_region_is_one_clear_error() -> None:
    aws = AwsClients({"AWS_REGION": REGION})
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:x"
    with pytest.raises(SecretsError, match="NoCredentials"):
        SecretReader(arn, reread_min_interval_seconds=60, aws=lambda: aws).value()
    keyed = AwsClients({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"})
    with pytest.raises(SecretsError, match="NoRegion"):  # a bare name, and no AWS_REGION to say where it is
        SecretReader("app-secret", reread_min_interval_seconds=60, aws=lambda: keyed).value()
