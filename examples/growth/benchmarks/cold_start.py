"""Cold start of the Lambda package, route by route, against a bare FastAPI + Mangum app
(`make bench-cold-start`, or `python -m benchmarks.cold_start --runs 7`).

1. Builds the package with the deploy's own `ops.release.build_package`, in its local-build variant
   (benchmarks/local_package.py: the dependencies copied from this environment, the bytecode compiled by this
   Python), and prints its sizes against Lambda's limits.
2. Extracts it to a folder, as Lambda does to /var/task.
3. Starts the local stack (devstack.stack) and seeds what each worker needs as the tour does
   (devstack/tour_steps). A cron tick that fans out (one message per chunk of users, to its own route) is
   run once, and the chunk message it published is measured too: the tick and the chunk are the two jobs
   a cold function of that route may get. Each run then gets its own copy of that database, so every run
   does the same work.
4. Times fresh processes (`python -S -B`, only the package on the path, nothing written next to it, as on
   Lambda): from process start to the first signed response through the Lambda handler (a Function URL
   event through Mangum, the real signature, the real job against the local stack). The bare app answers
   one trivial request the same way. Runs are interleaved (every target once per round, the order rotating)
   after one round that is not counted, and each figure is a median.
5. Prints, per route, the time to the first response, split into start-up (importing the handler's module)
   and first request, and its ratio to the bare app's time, the worst last. Moving work from start-up to the
   first request moves it from one column to the other: only the total counts.

Locally the functions' credentials are environment variables. `--secrets-manager` puts them where the stack
keeps them on AWS, in Secrets Manager (the local stack's moto): the app secret (QStash token and keys, Azure AI
key), the database password and the cache's AUTH token, so that each cold start reads them as a Lambda does
(app/secrets.py, app/db_credentials.py), the Secrets Manager client included.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks.bare_app import ROUTE as BARE_ROUTE
from benchmarks.local_package import VARIANT, build_local_package, extract
from devstack.lambda_event import function_url_event
from devstack.qstash_signer import delivery_headers
from ops.console import Console
from ops.release import UNZIPPED_LIMIT_BYTES, ZIPPED_LIMIT_BYTES, package_sizes

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from devstack.stack import CURRENT_SIGNING_KEY, LocalStack

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUNNER_FILES = ("cold_start_child.py", "bare_app.py")
BARE = "bare FastAPI + Mangum"
SEED_DATABASE = "bench_seed"


@dataclass(frozen=True)
class Sample:
    total_s: float  # process start to the response, measured here
    startup_s: float  # importing the handler's module, measured in the child
    request_s: float  # the handler's first answer, measured in the child


@dataclass
class Target:
    name: str
    module: str
    route: str
    body: bytes
    signed: bool
    samples: list[Sample] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(sample, attribute) for sample in self.samples))


def _database_url(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def _run_database(admin_url: str, database_url: str, run: int) -> Iterator[str]:
    """A copy of the seeded database for one run, dropped afterwards."""
    name = f"bench_run_{run}"
    _copy_database(admin_url, SEED_DATABASE, name)
    try:
        yield _database_url(database_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _targets(package: Path, stack: LocalStack) -> tuple[list[Target], list[str]]:
    """The bare app and every signed route of the package's plan, with the body of its first job (the tour's
    event, or the schedule's tick); the workers the tour has no step for are listed apart (not measured)."""
    from devstack.tour_steps import load
    from devstack.tour_support import Tour

    plan = json.loads((package / "app" / "plan.json").read_text(encoding="utf-8"))
    targets = [Target(BARE, "benchmarks_bare_app", BARE_ROUTE, b"{}", signed=False)]
    skipped: list[str] = []
    tour = Tour(stack)
    try:
        for worker in plan["workers"]:
            try:
                [(_, step)] = load([worker["name"]])
            except ImportError:
                skipped.append(worker["route"])
                continue
            step.prepare(tour)
            body = json.dumps(step.payload(tour)).encode()
            targets.append(Target(worker["route"], "app.main", worker["route"], body, signed=True))
    finally:
        tour.close()
    failure = {"sourceMessageId": "msg_bench_source", "url": stack.env["PUBLIC_BASE_URL"] + "/x", "status": 500}
    route = plan["qstash"]["failure_callback_route"]
    targets.append(Target(route, "app.main", route, json.dumps(failure).encode(), signed=True))
    return targets, skipped


def _fanned_out(targets: list[Target], stack: LocalStack, package: Path, runner: Path, env: dict[str, str]) -> None:
    """A job that fans out (a cron tick publishing one message per chunk of users to its own route) is run
    once here, before the database is copied: the message it published to its route becomes a target of its
    own (`<route> (chunk)`), which every run then finds pending, with its work to do."""
    assert stack.qstash is not None
    for target in [t for t in targets if t.signed]:
        published = len(stack.qstash.published)
        _run(target, package, runner, env)
        url = env["PUBLIC_BASE_URL"] + target.route
        chunks = [m for m in stack.qstash.published[published:] if m.destination == url]
        if chunks:
            targets.append(Target(f"{target.route} (chunk)", "app.main", target.route, chunks[0].body, signed=True))
    # The stand-in would deliver them to the app, which is stopped: the copies above are what counts.
    stack.qstash.reset()


def _run(target: Target, package: Path, runner: Path, env: dict[str, str]) -> Sample:
    headers: dict[str, str] = {}
    if target.signed:
        url = env["PUBLIC_BASE_URL"] + target.route
        headers = delivery_headers(target.body, url, CURRENT_SIGNING_KEY, message_id=f"msg_{uuid.uuid4().hex}")
    event_file = runner / "event.json"
    headers["content-type"] = "application/json"
    event = function_url_event("POST", target.route, target.body, headers)
    event_file.write_text(json.dumps(event), encoding="utf-8")
    command = [sys.executable, "-S", "-B", str(runner / "cold_start_child.py"), str(package), target.module]
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, str(event_file)], cwd=package, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        total = time.perf_counter() - started
        process.stdout.close()
        process.wait(60)
        errors.seek(0)
        stderr = errors.read()
    try:
        answer = json.loads(line)
    except ValueError:
        raise RuntimeError(f"{target.name}: no answer (exit {process.returncode}): {stderr[-2000:]}") from None
    if answer["status"] != 200:
        raise RuntimeError(f"{target.name}: answered {answer['status']} {answer['body']}")
    return Sample(total, float(answer["startup_s"]), float(answer["request_s"]))


def _child_env(stack_env: dict[str, str]) -> dict[str, str]:
    # Only what the function would have: the stack's variables, no PYTHONPATH, no virtualenv.
    kept = {name: os.environ[name] for name in ("PATH", "LANG", "TZ") if name in os.environ}
    return {**kept, **stack_env}


def _secrets_in_secrets_manager(stack: LocalStack, env: dict[str, str]) -> dict[str, str]:
    """The child's environment with its credentials moved to Secrets Manager (moto), as on AWS: the ARNs instead
    of the values, and the app pointed at moto by the SDKs' service-specific endpoint variable (app/aws.py)."""
    import boto3

    from app.secrets import APP_SECRET_NAMES

    assert stack.moto is not None
    manager = boto3.client(
        "secretsmanager",
        endpoint_url=stack.moto.url,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    suffix = uuid.uuid4().hex[:8]

    def create(name: str, value: str) -> str:
        return str(manager.create_secret(Name=f"bench-{name}-{suffix}", SecretString=value)["ARN"])

    database, cache = urlsplit(env["DATABASE_URL"]), urlsplit(env["REDIS_URL"])
    login = {"username": database.username or "", "password": database.password or ""}
    cache_url = urlunsplit(cache._replace(netloc=f"{cache.hostname}:{cache.port}"))  # the token comes from the secret
    return {
        **env,
        **dict.fromkeys(APP_SECRET_NAMES, ""),
        "APP_SECRET_ARN": create("app", json.dumps({name: env.get(name, "") for name in APP_SECRET_NAMES})),
        "DATABASE_SECRET_ARN": create("database", json.dumps(login)),
        "REDIS_AUTH_SECRET_ARN": create("cache", cache.password or ""),
        "REDIS_URL": cache_url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": stack.moto.url,
    }


def _report(targets: list[Target], runs: int, skipped: list[str]) -> None:
    bare = targets[0]
    base = bare.median("total_s")
    print(f"\ncold start to the first response, median of {runs} interleaved runs (seconds)")
    print(f"{'route':34} {'total':>7} {'start-up':>9} {'request':>8} {'vs bare':>8}")
    ranked = [bare, *sorted(targets[1:], key=lambda t: t.median("total_s"))]
    for target in ranked:
        total = target.median("total_s")
        print(
            f"{target.name:34} {total:7.3f} {target.median('startup_s'):9.3f} {target.median('request_s'):8.3f}"
            f" {total / base:7.2f}x"
        )
    for route in skipped:
        print(f"{route:34} not measured: devstack/tour_steps has no step for this worker")
    worst = ranked[-1]
    print(f"worst: {worst.name} {worst.median('total_s') / base:.2f}x the bare app")


def _print_package(package_zip: bytes, *, bytecode: bool) -> None:
    sizes = package_sizes(package_zip)
    compiled = f"bytecode {sys.implementation.cache_tag}" if bytecode else "without bytecode"
    print(f"package ({VARIANT}; Python {sys.version.split()[0]}, {compiled}):")
    print(
        f"  zipped {sizes.zipped / 2**20:.1f} MB of {ZIPPED_LIMIT_BYTES / 2**20:.0f} MB"
        f" ({sizes.zipped / ZIPPED_LIMIT_BYTES:.0%} of the direct-upload limit)"
    )
    print(
        f"  unzipped {sizes.unzipped / 2**20:.1f} MB of {UNZIPPED_LIMIT_BYTES / 2**20:.0f} MB"
        f" ({sizes.unzipped / UNZIPPED_LIMIT_BYTES:.0%} of the limit)"
    )


def _runner(folder: Path) -> Path:
    folder.mkdir()
    shutil.copyfile(HERE / "cold_start_child.py", folder / "cold_start_child.py")
    # Its own name: `benchmarks` is not in the package, and nothing of the package may shadow it.
    shutil.copyfile(HERE / "bare_app.py", folder / "benchmarks_bare_app.py")
    return folder


def _copy_database(admin_url: str, source: str, name: str, timeout: float = 10.0) -> None:
    """CREATE DATABASE ... TEMPLATE, once the sessions of the processes that used the source are gone."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(admin_url, autocommit=True) as admin:
        while True:
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds counted (default 5)")
    parser.add_argument("--without-bytecode", action="store_true", help="package the sources only (for comparison)")
    parser.add_argument(
        "--secrets-manager",
        action="store_true",
        help="read the credentials from Secrets Manager (the local moto) at each cold start, as on AWS",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="bench-cold-start-"))
    stack = LocalStack(progress=lambda line: None)
    try:
        package_zip = build_local_package(REPO, Console(out=io.StringIO()), bytecode=not args.without_bytecode)
        _print_package(package_zip, bytecode=not args.without_bytecode)
        package = extract(package_zip, work / "task")
        runner = _runner(work / "runner")

        print("starting the local stack and seeding each worker's first job ...", flush=True)
        stack.start()
        targets, skipped = _targets(package, stack)
        assert stack.app is not None
        stack.app.stop()  # the handler answers instead; the database is copied without its sessions
        database_url = stack.env["DATABASE_URL"]
        admin_url = _database_url(database_url, "postgres")
        env = _child_env(stack.env)
        if args.secrets_manager:
            env = _secrets_in_secrets_manager(stack, env)
            print("credentials: read from Secrets Manager (moto) at each cold start, as on AWS", flush=True)
        _fanned_out(targets, stack, package, runner, env)
        _copy_database(admin_url, urlsplit(database_url).path.lstrip("/"), SEED_DATABASE)

        for round_number in range(args.runs + 1):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                with _run_database(admin_url, database_url, round_number) as url:
                    sample = _run(target, package, runner, {**env, "DATABASE_URL": url})
                if round_number > 0:  # the first round only warms the file cache
                    target.samples.append(sample)
            print(f"  round {round_number}/{args.runs}{' (not counted)' if round_number == 0 else ''}", flush=True)
        _report(targets, args.runs, skipped)
        return 0
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
