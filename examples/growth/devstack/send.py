"""Send a signed test job to the local stack started by `make dev`:

    python -m devstack.send WORKER '{"key": "value"}'   # WORKER: a name from app/plan.json
    python -m devstack.send WORKER                      # an empty body, like a cron schedule's tick

It publishes through the real `qstash` SDK to the QStash stand-in (values from devstack/.state/dev.env,
overridden by the environment), which signs and delivers the message to the worker's route, with
retries and the failure callback; then it waits for the outcome and prints each attempt.
Exit 0 when the worker answered 2xx, 1 otherwise, 2 when nothing was sent (a payload that is not JSON, no stack).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import httpx

from devstack.qstash_server import MESSAGE_STATUS_PATH
from devstack.stack import ENV_FILE, load_plan_json


def read_env() -> dict[str, str]:
    values: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    for key in ("QSTASH_URL", "QSTASH_TOKEN", "PUBLIC_BASE_URL"):
        if os.environ.get(key):
            values[key] = os.environ[key]
    return values


def main(argv: list[str] | None = None) -> int:
    plan = load_plan_json()
    routes = {w["name"]: w["route"] for w in plan["workers"]}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("worker", choices=sorted(routes))
    parser.add_argument("payload", nargs="?", default="{}", help="the JSON body (default: {})")
    parser.add_argument("--retries", type=int, default=plan["qstash"]["retries"])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the outcome")
    args = parser.parse_args(argv)
    try:
        body: Any = json.loads(args.payload)
    except ValueError as exc:
        return _fail(f"the payload is not JSON ({exc}): pass one JSON value in single quotes, e.g. '{{\"key\": 1}}'")
    env = read_env()
    missing = [k for k in ("QSTASH_URL", "QSTASH_TOKEN", "PUBLIC_BASE_URL") if not env.get(k)]
    if missing:
        return _fail(f"{', '.join(missing)} unknown: start `make dev` first")

    from qstash import QStash
    from qstash.errors import QStashError

    client = QStash(env["QSTASH_TOKEN"], retry=False, base_url=env["QSTASH_URL"])
    base = env["PUBLIC_BASE_URL"].rstrip("/")
    try:
        published: Any = client.message.publish_json(
            url=base + routes[args.worker],
            body=body,
            retries=args.retries,
            failure_callback=base + plan["qstash"]["failure_callback_route"],
        )
        print(f"published {published.message_id} -> {base}{routes[args.worker]}", flush=True)
        status = wait(env, published.message_id, args.timeout)
    except (httpx.HTTPError, QStashError) as exc:
        return _fail(f"QStash at {env['QSTASH_URL']} did not answer ({type(exc).__name__}): is `make dev` running?")
    for attempt in status["attempts"]:
        print(f"  attempt retried={attempt['retried']}: {attempt['status']} {attempt['response']}")
    print(f"message {status['state']}")
    return 0 if status["state"] == "delivered" or status["state"].startswith("published") else 1


def _fail(message: str) -> int:
    print(f"devstack.send: {message}", file=sys.stderr)
    return 2


def wait(env: dict[str, str], message_id: str, timeout: float) -> dict[str, Any]:
    url = env["QSTASH_URL"].rstrip("/") + MESSAGE_STATUS_PATH + message_id
    headers = {"Authorization": f"Bearer {env['QSTASH_TOKEN']}"}
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, headers=headers, timeout=10)
        if response.status_code == 404:
            # Another QStash (e.g. Upstash's dev server) does not offer the stand-in's status route.
            return {"state": "published (outcome not tracked by this QStash; see the app's log)", "attempts": []}
        status: dict[str, Any] = response.json()
        if status.get("state") != "pending" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
