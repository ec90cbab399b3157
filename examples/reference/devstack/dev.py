"""`make dev`: the local stack on 127.0.0.1 until Ctrl-C (python -m devstack.dev).

Prints every URL and the environment the app runs with, writes the same values to
devstack/.state/dev.env (for `source` and for `python -m devstack.send`), logs each delivery the QStash
stand-in makes, and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from devstack.qstash_server import Attempt
from devstack.stack import ENV_FILE, LocalStack, load_plan_json
from devstack.tour_steps import example_payloads, seed_examples


def describe(attempt: Attempt) -> str:
    outcome = "no answer" if attempt.status is None else str(attempt.status)
    answer = attempt.response[:200]
    return f"[qstash] {attempt.message_id} retried={attempt.retried} -> {attempt.url}: {outcome} {answer}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--backoff-scale",
        type=float,
        default=float(os.environ.get("DEVSTACK_BACKOFF_SCALE", "0.01")),
        help="multiplies QStash's retry backoff (1 = real: 12 s, 2 min 28 s, 30 min); default 0.01",
    )
    parser.add_argument("--qstash-url", help="use another QStash (e.g. `npx @upstash/qstash-cli dev`) instead")
    parser.add_argument("--qstash-token", default="", help="its token (with --qstash-url)")
    parser.add_argument("--qstash-current-signing-key", default="", help="its current signing key")
    parser.add_argument("--qstash-next-signing-key", default="", help="its next signing key")
    args = parser.parse_args(argv)
    override = {}
    if args.qstash_url:
        override = {
            "QSTASH_URL": args.qstash_url,
            "QSTASH_TOKEN": args.qstash_token,
            "QSTASH_CURRENT_SIGNING_KEY": args.qstash_current_signing_key,
            "QSTASH_NEXT_SIGNING_KEY": args.qstash_next_signing_key,
        }
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stack = LocalStack(
        backoff_scale=args.backoff_scale,
        quiet_app=False,
        qstash_override=override,
        on_attempt=lambda attempt: print(describe(attempt), flush=True),
    )
    try:
        print("starting the local stack on 127.0.0.1 ...", flush=True)
        stack.start()
        plan = load_plan_json()
        names = [w["name"] for w in plan["workers"]]
        seeded = seed_examples(names, stack)
        # Written last: `devstack.send` (and a test waiting for this file) may start as soon as it exists.
        env_file = stack.write_env_file()
        print(f"\nenvironment (also in {env_file}; `set -a; . {env_file}; set +a`):")
        for key, value in stack.env.items():
            print(f"  {key}={value}")
        print("\nworker routes (signed POST only):")
        for worker in plan["workers"]:
            print(f"  {worker['name']:<18} {stack.app_url}{worker['route']}  ({worker['trigger']})")
        print("\nsend a signed test job (published through the qstash SDK, delivered signed by the stand-in):")
        for name, payload in example_payloads(names).items():
            print(f"  .venv/bin/python -m devstack.send {name} '{payload}'")
        for line in seeded:
            print(f"  (uploaded for the example: {line})")
        print(
            "  (a job about other S3 objects needs them in the bucket first: boto3 with S3_ENDPOINT_URL)\n"
            f"health: curl {stack.app_url}/health\n"
            f"env file: {env_file}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        stop.wait()
    except Exception as exc:  # noqa: BLE001 - report on one line, then stop what started
        print(f"dev stack failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
        ENV_FILE.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
