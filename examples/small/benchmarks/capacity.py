"""`make capacity USERS=N` (`python -m benchmarks.capacity --users N`): one tick of each cron worker for N users,
end to end through the local stack, and whether every user was served.

Starts the stack `make dev` runs (devstack.stack: real PostgreSQL and Redis, moto S3, the QStash stand-in
delivering concurrently with its retries and the plan's flow control, the app under uvicorn, the Azure AI
stand-in answering with the plan's model latency), seeds N users with realistic data (each worker's
`seed_users` in devstack/tour_steps/), syncs the plan's schedules and fires one tick of each cron worker, one
worker at a time. A fanned-out tick publishes its chunk messages; the run of a worker ends when QStash has
settled every message it caused (chunks, retries, notifications). Per worker it prints the wall time, the
messages and delivery attempts, the model calls and the users served, beside the plan's own capacity figure
(`.betagen/plan.json`); the last line is `capacity: <done>/<N> users done in <s> s (<worker> ..., ...)`.

Time is compressed: the model's latency (the plan's p50/p95 assumption, log-normal) is multiplied by
`--time-scale` (printed), so a run that takes an hour against a real model takes a minute here. Everything else
(HTTP, signatures, the database, QStash's flow control) runs at its real speed. Exit 0 when every user was
served by every cron worker, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.plan import Plan, WorkerPlan, load_plan
from app.schedules import apply_changes, desired_schedules, plan_changes
from app.settings import DEFAULT_PLAN_PATH
from devstack.app_server import PROJECT_DIR
from devstack.azure_ai import Latency
from devstack.seed_data import user_ids
from devstack.stack import QSTASH_TOKEN, LocalStack
from devstack.tour_steps import load

PLAN_DOCUMENT = PROJECT_DIR / ".betagen" / "plan.json"
# QStash's retries wait 12 s, 2 min 28 s, 30 min at full scale: compressed like the model's latency.
DEFAULT_TIME_SCALE = 0.01


@dataclass(frozen=True)
class WorkerRun:
    name: str
    seconds: float
    messages: int
    attempts: int
    model_calls: int
    done: int
    chunks: int
    model_seconds: float  # the model's (scaled) answer times, summed over this run's calls


def _document() -> dict[str, Any]:
    """The plan as `betagen` computed it for this repository (answers, capacity); rendered beside app/plan.json."""
    data: dict[str, Any] = json.loads(PLAN_DOCUMENT.read_text(encoding="utf-8"))
    return data


def _arguments(argv: list[str], default_users: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=default_users, help=f"users to seed (default {default_users})")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"multiplies the model's latency and QStash's retry backoff (default {DEFAULT_TIME_SCALE})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data and latencies")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    document = _document()
    plan = load_plan(DEFAULT_PLAN_PATH)
    args = _arguments(sys.argv[1:] if argv is None else argv, int(document["answers"]["users"]))
    usage = document["answers"]["usage"]
    p50, p95 = float(usage["model_latency_p50_seconds"]), float(usage["model_latency_p95_seconds"])
    args.p95 = p95
    # Not the custom workers: what one of their ticks does per user is the founder's code, nothing to seed here.
    cron = [w for w in plan.workers if w.trigger == "cron" and not w.custom]
    if not cron:
        print("capacity: this plan has no cron worker: nothing grows with users on a schedule")
        return 0
    print(
        f"capacity benchmark: {args.users} users, cron workers {', '.join(w.name for w in cron)}\n"
        f"model latency: p50 {p50:g} s, p95 {p95:g} s (the plan's assumption), scaled x{args.time_scale:g}:"
        f" time compressed {1 / args.time_scale:g}x; flow control parallelism {plan.qstash.flow_control.parallelism}",
        flush=True,
    )
    stack = LocalStack(
        backoff_scale=args.time_scale,
        app_log=Path(tempfile.mkdtemp(prefix="capacity-")) / "app.log",
        progress=lambda line: print(f"    {line}", flush=True),
        azure_latency=Latency(p50, p95, scale=args.time_scale, seed=args.seed),
    )
    try:
        stack.start()
        runs = _run(stack, plan, cron, args)
    finally:
        stack.stop()
    return _report(
        runs, args.users, document.get("capacity", {}), plan.qstash.flow_control.parallelism, args.time_scale
    )


def _run(stack: LocalStack, plan: Plan, cron: list[WorkerPlan], args: argparse.Namespace) -> list[WorkerRun]:
    from qstash import QStash

    users = user_ids(args.users)
    now = datetime.now(UTC)
    steps = dict(load([w.name for w in cron]))
    ordered = [w for name in steps for w in cron if w.name == name]
    assert stack.sink is not None
    with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as conn:
        rng = random.Random(args.seed)
        for worker in ordered:
            started = time.monotonic()
            line = steps[worker.name].seed_users(conn, users, now=now, rng=rng, webhook_base=stack.sink.url)
            print(f"seeded for {worker.name}: {line} ({time.monotonic() - started:.1f} s)", flush=True)
        client = QStash(QSTASH_TOKEN, retry=False, base_url=stack.env["QSTASH_URL"])
        apply_changes(client, plan, stack.app_url, plan_changes(plan, stack.app_url, client.schedule.list()))
        schedules = {s.destination: s.schedule_id for s in desired_schedules(plan, stack.app_url)}
        return [
            _tick(stack, conn, worker, steps[worker.name], schedules[stack.route_url(worker.route)], users, now, args)
            for worker in ordered
        ]


def _tick(
    stack: LocalStack,
    conn: psycopg.Connection,
    worker: WorkerPlan,
    step: ModuleType,
    schedule_id: str,
    users: list[str],
    now: datetime,
    args: argparse.Namespace,
) -> WorkerRun:
    qstash, azure = stack.qstash, stack.azure
    assert qstash is not None
    assert azure is not None
    messages, attempts, calls = len(qstash.messages), len(qstash.attempts), len(azure.calls)
    started = time.monotonic()
    tick = qstash.trigger_schedule(schedule_id)
    qstash.wait_for(tick, timeout=_patience(worker, len(users), stack, args))
    qstash.wait_idle(timeout=_patience(worker, len(users), stack, args))
    seconds = time.monotonic() - started
    chunks, done = conn.execute(
        "SELECT count(*), coalesce(sum(jsonb_array_length(units)) FILTER (WHERE done_at IS NOT NULL), 0)"
        " FROM fanout_chunks WHERE tick_id = %s",
        (tick,),
    ).fetchone() or (0, 0)
    if worker.limits.chunk_size is None:
        done = step.users_done(conn, users, now)
    run = WorkerRun(
        name=worker.name,
        seconds=seconds,
        messages=len(qstash.messages) - messages,
        attempts=len(qstash.attempts) - attempts,
        model_calls=len(azure.calls) - calls,
        done=int(done),
        chunks=int(chunks),
        model_seconds=sum(call.latency_seconds for call in azure.calls[calls:]),
    )
    others = run.messages - 1 - run.chunks
    parts = ["1 tick"] + ([f"{run.chunks} chunks of <= {worker.limits.chunk_size} users"] if run.chunks else [])
    parts += [f"{others} notifications/callbacks"] if others else []
    print(
        f"{run.name:<16} wall {run.seconds:8.2f} s  messages {run.messages:>6} ({' + '.join(parts)})"
        f"  delivery attempts {run.attempts:>6}  model calls {run.model_calls:>6}  users done {run.done}/{len(users)}",
        flush=True,
    )
    return run


def _patience(worker: WorkerPlan, users: int, stack: LocalStack, args: argparse.Namespace) -> float:
    """How long to wait for a run before calling it stuck: every chunk's calls at the scaled p95 latency, wave after
    wave of `parallelism` chunks, four times over, plus a minute."""
    chunk = worker.limits.chunk_size or users
    waves = math.ceil(math.ceil(users / chunk) / stack.parallelism)
    per_call = float(args.p95 * args.time_scale) + 0.1  # 0.1 s: one call's own HTTP and database work, generously
    return float(60.0 + 4 * waves * chunk * max(1, worker.limits.model_calls_per_unit) * per_call)


def real_time_estimate(run: WorkerRun, parallelism: int, time_scale: float) -> float:
    """The run's wall time with the model at its real latency: the model's time, spread over the messages in flight,
    stretched back by the scale (an estimate: it assumes the lanes stay as busy as they were)."""
    return run.seconds + run.model_seconds / parallelism * (1 / time_scale - 1)


def _report(runs: list[WorkerRun], users: int, capacity: dict[str, Any], parallelism: int, time_scale: float) -> int:
    for run in runs:
        planned = capacity.get(run.name, {})
        estimate = real_time_estimate(run, parallelism, time_scale)
        line = f"{run.name:<16} at the real latency: about {estimate / 60:,.1f} min"
        if planned:
            line += f"; the plan: at most {planned['max_users']:,} users (limited by {planned['limiting']})"
        print(line, flush=True)
    done = min(run.done for run in runs)
    seconds = sum(run.seconds for run in runs)
    detail = ", ".join(f"{run.name} {run.done}/{users} in {run.seconds:.2f} s" for run in runs)
    print(f"capacity: {done}/{users} users done in {seconds:.2f} s ({detail})", flush=True)
    return 0 if done >= users else 1


if __name__ == "__main__":
    sys.exit(main())
