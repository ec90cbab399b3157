"""A route loads what it uses: importing the Lambda handler loads no SDK a route may not need, and a signed
delivery to the failure callback (database, cache, signature) answers without loading boto3 or the AI SDK.

In a fresh interpreter, as a cold Lambda starts: this process has imported everything already.
benchmarks/cold_start.py measures what these imports cost (`make bench-cold-start`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.plan import Plan
from devstack.lambda_event import function_url_event
from devstack.qstash_signer import delivery_headers
from tests.helpers import Services, new_message_id

ROOT = Path(__file__).resolve().parent.parent
# Loaded only by the routes that call S3 or a model; pydantic.v1 by none (a return annotation FastAPI turns into
# a response model loads it).
ON_DEMAND = ("boto3", "botocore", "openai", "pydantic.v1")
# What every signed route uses: the job bookkeeping, the delivery dedupe, the signature.
EVERY_ROUTE = ("psycopg", "psycopg_pool", "redis", "qstash")

_CHILD = """
import json, sys
event = json.loads(sys.stdin.read())
watched = json.loads(sys.argv[1])
import app.main
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
