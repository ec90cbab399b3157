"""Latency of signed deliveries that write to PostgreSQL vs a bare route, on one uvicorn server.

Starts real PostgreSQL and Redis on 127.0.0.1 (plus moto S3 and the stand-ins the app needs for its
clients), serves the app with uvicorn in a child process, then sends requests open-loop at a fixed rate
(default 100/s) from a thread pool: a bare GET /livez and signed POSTs to the failure callback
(signature, dedupe, job bookkeeping and a single upsert)
and to /workers/data-processing (one day's roll-up + S3 export + job bookkeeping).
Prints p50/p95/p99, throughput and the ratio to the bare route.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.migrate import apply_migrations
from app.plan import load_plan
from app.settings import DEFAULT_PLAN_PATH
from devstack.app_server import AppProcess
from devstack.azure_ai import AzureAIStandIn
from devstack.moto_s3 import MotoProcess
from devstack.qstash_server import QStashStandIn
from devstack.qstash_signer import delivery_headers
from devstack.redis import start_redis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from devstack.postgres import start_postgres

SIGNING_KEY = "sig_benchmark_current_key_0123456789"
PUBLIC = "https://bench.example.test"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def run_open_loop(
    send: Callable[[int], None], warm: Callable[[], object], rate: float, count: int, workers: int
) -> tuple[list[float], float]:
    """Sends `count` requests at `rate`/s regardless of how long each takes (no coordinated omission)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(i: int, scheduled: float) -> None:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i)
        elapsed = time.perf_counter() - scheduled
        with lock:
            latencies.append(elapsed * 1000)

    with ThreadPoolExecutor(workers) as pool:
        # Start every sender thread (and its HTTP client) before the clock starts.
        ready = threading.Barrier(workers)
        list(pool.map(lambda _: (warm(), ready.wait()), range(workers)))
        start = time.perf_counter() + 0.05
        for i in range(count):
            pool.submit(timed, i, start + i / rate)
    return latencies, time.perf_counter() - start


def summarise(name: str, latencies: list[float], elapsed: float) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    postgres = start_postgres()
    redis_server = start_redis()
    moto = MotoProcess().start()
    azure = AzureAIStandIn(api_key="bench").start()
    qstash = QStashStandIn(token="bench").start()
    server: AppProcess | None = None
    try:
        apply_migrations(postgres.url)
        env = {
            "APP_ENV": "test",
            "PUBLIC_BASE_URL": PUBLIC,
            "DATABASE_URL": postgres.url,
            "DATABASE_POOL_MIN_SIZE": "8",
            "DATABASE_POOL_MAX_SIZE": "16",
            "REDIS_URL": redis_server.url,
            "S3_BUCKET": "bench",
            "S3_ENDPOINT_URL": moto.url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "QSTASH_URL": qstash.url,
            "QSTASH_TOKEN": "bench",
            "QSTASH_CURRENT_SIGNING_KEY": SIGNING_KEY,
            "QSTASH_NEXT_SIGNING_KEY": SIGNING_KEY + "-next",
            "AZURE_OPENAI_BASE_URL": azure.base_url,
            "AZURE_OPENAI_API_KEY": "bench",
            "LOG_LEVEL": "WARNING",
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench")
        # The server runs in its own process, so the load generator does not share its interpreter.
        server = AppProcess(env=env).start()
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "http"):
                local.http = httpx.Client(base_url=server.url if server else "", timeout=30)
            http: httpx.Client = local.http
            return http

        def signed(route: str, body: bytes) -> None:
            headers = delivery_headers(body, PUBLIC + route, SIGNING_KEY, message_id=f"msg_{uuid.uuid4().hex}")
            response = client().post(route, content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{route}: {response.status_code} {response.text}")

        def bare_request(_: int) -> None:
            client().get("/livez").raise_for_status()

        failure_route = load_plan(DEFAULT_PLAN_PATH).qstash.failure_callback_route

        def failure_callback(i: int) -> None:
            body = json.dumps({"sourceMessageId": f"msg_src_{i}", "url": PUBLIC + "/x", "status": 500}).encode()
            signed(failure_route, body)

        scenarios: list[tuple[str, Callable[[int], None]]] = [
            ("bare GET /livez", bare_request),
            (f"signed {failure_route} (1 upsert)", failure_callback),
        ]

        def data_processing(i: int) -> None:
            signed("/workers/data-processing", json.dumps({"day": f"2026-01-{1 + i % 28:02d}"}).encode())

        scenarios.append(("signed /workers/data-processing (roll-up + S3 export)", data_processing))

        for warm in range(50):  # connection pools, JIT-free but cold caches
            for _, send in scenarios:
                send(warm)

        results: dict[str, Any] = {"rate_rps": args.rate, "count": args.count}
        for name, send in scenarios:
            latencies, elapsed = run_open_loop(send, client, args.rate, args.count, workers=16)
            results[name] = summarise(name, latencies, elapsed)
        base = results["bare GET /livez"]["p95_ms"]
        for name, _ in scenarios[1:]:
            results[name]["p95_ratio_to_bare"] = round(results[name]["p95_ms"] / base, 2)
        if args.json:
            print(json.dumps(results, indent=2, sort_keys=True))
        else:
            print(f"{args.count} requests per scenario at {args.rate:g} req/s, uvicorn on 127.0.0.1")
            print(f"{'scenario':56} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7} {'p95/bare':>9}")
            for name, _ in scenarios:
                r = results[name]
                ratio = r.get("p95_ratio_to_bare", 1.0)
                print(
                    f"{name:56} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f}"
                    f" {r['throughput_rps']:7.1f} {ratio:9.2f}"
                )
        return 0
    finally:
        if server is not None:
            server.kill()
        azure.stop()
        qstash.stop()
        moto.stop()
        redis_server.stop()
        postgres.stop()


if __name__ == "__main__":
    raise SystemExit(main())
