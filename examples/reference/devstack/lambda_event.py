"""Lambda Function URL events (payload format 2.0), as a function's URL hands a request to the handler, for
calling `app.main.handler` without AWS (the tests, benchmarks/cold_start.py).

"Invoking Lambda function URLs" (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html, read
2026-11-25): the request payload's fields; a body that is not text arrives base64-encoded.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

HOST = "abc.lambda-url.us-east-1.on.aws"


def function_url_event(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()} | {"host": HOST},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": HOST,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
