"""deploy: preflight, stack change set, snapshot, migrations, release, schedules, verify."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ops import parameters
from ops.aws import Clients
from ops.config import SECRET_VARS, TEMPLATE_PATH, OpsEnv, OpsPlan
from ops.console import Console
from ops.errors import NotConfirmedError, PreflightError, VerifyFailedError
from ops.preflight import Findings
from ops.preflight import preflight as run_checks
from ops.release import Releaser, build_package, git_revision, invoke_task, task_client
from ops.schedules import Schedules, current_plan, qstash_client, record_plan, recorded_plan, without_schedules
from ops.snapshots import predeploy_identifier, prune_predeploy_snapshots
from ops.spend import OverBudgetError, SpendSources, ledger_from_task, spend_report
from ops.spend_sources import AiActual, CostExplorer, Month, SpendSourceError
from ops.stack import Stack
from ops.steps import Run
from ops.verify import Check, check_alarms, check_budget, check_health, check_latency, check_schedules, check_stack


@dataclass
class Hooks:
    """Seams for what cannot run off AWS: tests replace them with local equivalents."""

    confirm: Callable[[str], bool] = field(default=lambda prompt: input(prompt).strip().lower() in ("y", "yes"))
    package: Callable[[], bytes] = field(default=build_package)
    # Migrations run in the cron Lambda (inside the VPC) unless replaced.
    migrate: Callable[[dict[str, str]], list[str]] | None = None
    stack_poll_seconds: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    # The spend report: the AI ledger is read in the cron Lambda (inside the VPC) unless replaced; Cost
    # Explorer's tag status and forecast go to `cost_explorer_meta` when given (moto has neither API).
    spend_ledger: Callable[[], list[AiActual]] | None = None
    cost_explorer_meta: Any | None = None
    month: Callable[[], Month] = Month.current


@dataclass
class Context:
    plan: OpsPlan
    env: OpsEnv
    clients: Clients
    console: Console
    hooks: Hooks = field(default_factory=Hooks)
    template_path: Path = TEMPLATE_PATH

    def stack(self) -> Stack:
        return Stack(
            self.clients.cloudformation,
            self.env.stack_name,
            self.console,
            poll_seconds=self.hooks.stack_poll_seconds,
            sleep=self.hooks.sleep,
        )

    def releaser(self) -> Releaser:
        return Releaser(self.clients.lambda_, self.clients.s3, self.console, sleep=self.hooks.sleep)

    def schedules(self, public_base_url: str) -> Schedules:
        token = self.env.values.get("QSTASH_TOKEN", "")
        return Schedules(qstash_client(token, self.env.qstash_url), public_base_url, self.console)

    def public_url(self, outputs: dict[str, str]) -> str:
        return (self.env.public_base_url or outputs.get("FunctionUrl", "")).rstrip("/")

    def spend_sources(self, outputs: dict[str, str]) -> SpendSources:
        ledger = self.hooks.spend_ledger
        if ledger is None:
            cron = outputs.get("CronFunctionName")
            if not cron:
                raise SpendSourceError(f"stack {self.env.stack_name} has no cron function to read the spend ledger")
            client = task_client(self.env.region, self.plan)
            ledger = ledger_from_task(lambda task: invoke_task(client, cron, task))
        return SpendSources(
            CostExplorer(self.clients.ce, self.hooks.cost_explorer_meta),
            ledger,
            self.env.qstash_url,
            self.env.values.get("QSTASH_TOKEN", ""),
            now=self.hooks.month,
        )


def preflight(ctx: Context, *, needs_secrets: bool, full: bool = False) -> Findings:
    """Every check on its own line before anything changes (ops/preflight.py); raises PreflightError."""
    return run_checks(
        ctx.plan, ctx.env, ctx.clients, ctx.console, ctx.template_path, full=full, needs_secrets=needs_secrets
    )


def database_secret(clients: Clients, outputs: dict[str, str]) -> str:
    """The secret RDS manages exists; its value is never read here (the functions read it when they log in)."""
    described = clients.secretsmanager.describe_secret(SecretId=outputs["DatabaseSecretArn"])
    if not described.get("RotationEnabled"):
        return f"{described['Name']}: rotation is off"
    days = described.get("RotationRules", {}).get("AutomaticallyAfterDays")
    every = f"every {days} days" if days else "on a schedule"
    return f"{described['Name']}: rotated {every}; the functions follow it without a deploy"


def write_app_secret(ctx: Context, outputs: dict[str, str], *, dry_run: bool) -> str:
    wanted = {name: ctx.env.values[name] for name in SECRET_VARS if name in ctx.env.values}
    sm = ctx.clients.secretsmanager
    try:
        current = json.loads(sm.get_secret_value(SecretId=outputs["AppSecretArn"])["SecretString"])
    except (ClientError, ValueError):
        current = {}
    if current == wanted:
        return "unchanged"
    if dry_run:
        return f"would update {len(wanted)} value(s)"
    sm.put_secret_value(SecretId=outputs["AppSecretArn"], SecretString=json.dumps(wanted, sort_keys=True))
    return f"updated {len(wanted)} value(s)"


def run_verify(ctx: Context, outputs: dict[str, str], account: str, *, status: str | None = None) -> list[Check]:
    url = ctx.public_url(outputs)
    checks = [
        check_stack(status if status is not None else ctx.stack().status()),
        check_health(url),
        check_latency(url, ctx.plan.sla_latency_samples, ctx.plan.sla_p95_ms),
        check_alarms(ctx.clients.cloudwatch, ctx.plan.alarm_names),
        check_budget(ctx.clients.budgets, account, ctx.plan),
        check_schedules(ctx.schedules(url), current_plan())
        if ctx.env.values.get("QSTASH_TOKEN")
        else Check("schedules", False, "QSTASH_TOKEN is not set: cannot read the schedules"),
    ]
    for check in checks:
        ctx.console.detail(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    return checks


def change_set_parameters(stack: Stack, status: str | None, findings: Findings) -> parameters.Parameters:
    versions, concurrency = findings.versions, findings.concurrency
    if versions is None or concurrency is None:  # a full preflight always sets both, or raises
        raise RuntimeError("the preflight did not resolve the engine versions and the concurrency")
    if status in (None, "REVIEW_IN_PROGRESS"):
        return parameters.create_parameters(versions, concurrency)
    return parameters.update_parameters(stack.parameter_keys(), versions, concurrency)


def clear_failed_create(ctx: Context, stack: Stack, *, yes: bool, dry_run: bool) -> bool:
    """A failed first create left an empty ROLLBACK_COMPLETE stack, which can only be deleted: say why it
    failed, then delete it (asking, unless --yes) so the deploy creates it again. False on a dry run."""
    name = ctx.env.stack_name
    ctx.console.line(f"stack {name} is ROLLBACK_COMPLETE: its first create failed: {stack.first_failure()}")
    ctx.console.detail(
        "CloudFormation removed what that create had made (the database had no deletion protection yet):"
        " the stack is empty and can only be deleted"
    )
    if dry_run:
        ctx.console.line("dry run: the empty stack would be deleted and created again; nothing was changed")
        return False
    if not yes and not ctx.hooks.confirm(f"Delete the empty stack {name} and create it again? [y/N] "):
        raise NotConfirmedError(
            f"not confirmed: stack {name} stays ROLLBACK_COMPLETE (./deploy.sh --yes deletes and recreates it)"
        )
    # Not a Run step: there is nothing to undo, and a DELETE_FAILED must surface as itself (its recovery).
    ctx.console.step("delete", f"the empty stack {name} (ROLLBACK_COMPLETE)")
    stack.delete()
    ctx.console.detail(f"{name} deleted: creating it again")
    return True


def deploy_stack(ctx: Context, run: Run, findings: Findings, *, yes: bool, dry_run: bool) -> bool:
    """The stack phase: stuck states stop, an empty failed create is cleared, then the change set (and, after
    a first create, the protect step). False when a dry run has nothing more to show."""
    console = ctx.console
    stack = ctx.stack()
    # ROLLBACK_FAILED, DELETE_FAILED (recovery commands printed) and operations in progress stop here.
    status = stack.check_changeable()
    if status == "ROLLBACK_COMPLETE":
        if not clear_failed_create(ctx, stack, yes=yes, dry_run=dry_run):
            return False
        status = None
    creating = status in (None, "REVIEW_IN_PROGRESS")
    template = ctx.template_path.read_text(encoding="utf-8")
    stack_parameters = change_set_parameters(stack, status, findings)

    def stack_step() -> str:
        console.detail(f"parameters: {parameters.describe(stack_parameters)}")
        change_set = stack.create_change_set(template, f"deploy-{int(time.time())}", stack_parameters)
        console.detail(f"change set ({change_set.change_type}):")
        for line in change_set.describe():
            console.detail(f"  {line}")
        if change_set.empty:
            return str(stack.status())
        if dry_run:
            stack.delete_change_set(change_set.name)
            return "dry run: change set not executed"
        if not yes and not ctx.hooks.confirm("Apply these changes? [y/N] "):
            stack.delete_change_set(change_set.name)
            raise NotConfirmedError("not confirmed: nothing was changed")
        # CloudFormation undoes a failed update by itself; the waiter reports the rollback.
        return stack.execute(change_set)

    result = run.step("stack", f"change set for {ctx.env.stack_name}", stack_step)
    console.detail(result)
    if dry_run and stack.status() in (None, "REVIEW_IN_PROGRESS"):
        console.line("dry run: the stack does not exist yet; nothing more to show")
        return False
    if creating and result == "CREATE_COMPLETE":

        def protect() -> str:
            protect_parameters = parameters.protect_parameters()
            console.detail(f"parameters: {parameters.describe(protect_parameters)}")
            change_set = stack.create_change_set(template, f"protect-{int(time.time())}", protect_parameters)
            return str(stack.status()) if change_set.empty else stack.execute(change_set)

        # Off for the first create only (a failed create then rolls back cleanly); on from now on.
        console.detail(run.step("protect", "deletion protection on for the database", protect))
    return True


def deploy(ctx: Context, *, yes: bool, dry_run: bool, preflight_only: bool = False) -> int:
    console = ctx.console
    run = Run(console)
    console.step("preflight", "everything the deploy needs, checked before anything is created")
    findings = preflight(ctx, needs_secrets=True, full=True)
    account = findings.account
    if preflight_only:
        console.line("preflight passed: nothing was changed")
        return 0
    if not deploy_stack(ctx, run, findings, yes=yes, dry_run=dry_run):
        return 0
    stack = ctx.stack()
    outputs = stack.outputs()
    public_url = ctx.public_url(outputs)
    workers = outputs["WorkersFunctionName"]
    releaser = ctx.releaser()
    previous = releaser.live_version(workers)
    plan = current_plan()
    schedules = ctx.schedules(public_url)

    if dry_run:
        console.step("secrets", write_app_secret(ctx, outputs, dry_run=True))
        console.step("release", f"would publish a new version of {workers} and move live from {previous}")
        console.step("schedules", "changes that would be applied:")
        schedules.sync(plan, dry_run=True)
        console.line("dry run: nothing was changed")
        return 0

    secret = run.step(
        "secrets", "app secret from the environment", lambda: write_app_secret(ctx, outputs, dry_run=False)
    )
    console.detail(secret)
    # No secret here: a version's environment is readable by anyone allowed lambda:GetFunctionConfiguration.
    # The keys went into the app secret above, the database password is RDS's secret, and the stack gives both
    # functions the ARNs (APP_SECRET_ARN, DATABASE_SECRET_ARN, REDIS_AUTH_SECRET_ARN) to read them from.
    overlay = {
        **{name: value for name, value in ctx.env.values.items() if name not in SECRET_VARS},
        "QSTASH_URL": ctx.env.qstash_url,
        "PUBLIC_BASE_URL": public_url,
    }
    console.detail(
        run.step("database", "the secret RDS manages for the database", lambda: database_secret(ctx.clients, outputs))
    )
    package = run.step("package", "app, migrations and dependencies (linux arm64)", ctx.hooks.package)
    console.detail(f"{len(package) / 1_048_576:.1f} MB")

    def snapshot() -> str:
        identifier = predeploy_identifier(ctx.plan.slug, time.gmtime())
        rds = ctx.clients.rds
        # A deploy re-run within the same second finds its own snapshot: that one serves.
        with contextlib.suppress(rds.exceptions.DBSnapshotAlreadyExistsFault):
            rds.create_db_snapshot(DBSnapshotIdentifier=identifier, DBInstanceIdentifier=outputs["DatabaseInstanceId"])
        waited = 0.0
        while True:
            status = ctx.clients.rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"][0]["Status"]
            if status == "available":
                # Only once the new one is there: the quota of manual snapshots is per region (ops/snapshots.py).
                kept = ctx.plan.predeploy_snapshots_kept
                for old in prune_predeploy_snapshots(rds, outputs["DatabaseInstanceId"], ctx.plan.slug, kept):
                    console.detail(f"deleted snapshot {old} (the newest {kept} pre-deploy snapshots are kept)")
                return identifier
            if waited > 3600:
                raise RuntimeError(f"snapshot {identifier} still {status} after an hour")
            console.line(f"    waiting: snapshot {identifier} {status}")
            ctx.hooks.sleep(15)
            waited += 15

    snapshot_id = run.step("snapshot", f"database {outputs['DatabaseInstanceId']}", snapshot)
    console.detail(f"snapshot {snapshot_id} (restore from it if a migration damaged data)")

    def migrate() -> list[str]:
        # The cron function runs this release's code and settings (and loses any key an older release left).
        cron = outputs["CronFunctionName"]
        releaser.upload_code(cron, package, outputs.get("ArtifactsBucketName"))
        releaser.set_environment(cron, overlay, remove=SECRET_VARS)
        if ctx.hooks.migrate is not None:
            return ctx.hooks.migrate(overlay)
        # Its own client: one attempt, and an answer awaited longer than the cron function may run.
        return list(invoke_task(task_client(ctx.env.region, ctx.plan), cron, "migrate").get("applied", []))

    applied = run.step("migrate", "migrations through the cron Lambda", migrate)
    console.detail(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))

    def publish() -> str:
        digest = releaser.upload_code(workers, package, outputs.get("ArtifactsBucketName"))
        releaser.set_environment(workers, overlay, handler="app.main.handler", remove=SECRET_VARS)
        return releaser.publish(workers, f"{git_revision()} {digest[:12]}")

    version = run.step("publish", f"new version of {workers}", publish)
    console.detail(f"version {version} (live was {previous})")

    def move_alias() -> None:
        if previous == version:
            console.detail(f"live already on {version}")
            return
        releaser.move_alias(workers, version, note=f"previous {previous}")
        if previous is not None:
            run.on_failure(f"live back to version {previous}", lambda: releaser.move_alias(workers, previous))
        if outputs.get("ArtifactsBucketName"):
            record_plan(ctx.clients.s3, outputs["ArtifactsBucketName"], workers, version, plan)

    run.step("alias", f"live -> {version}", move_alias)

    def sync() -> None:
        before = recorded_plan(ctx.clients.s3, outputs["ArtifactsBucketName"], workers, previous) if previous else None
        restore = before or without_schedules(plan)

        def undo() -> None:
            schedules.sync(restore, dry_run=False)

        run.on_failure("QStash schedules as before", undo)
        schedules.sync(plan, dry_run=False)

    run.step("schedules", "QStash schedules from the plan", sync)

    def verify() -> None:
        failed = [c.name for c in run_verify(ctx, outputs, account) if not c.ok]
        if failed:
            raise VerifyFailedError(failed)

    run.step("verify", f"the release through {public_url}", verify)
    console.line(f"deployed: live = version {version}")
    return 0


def verify_only(ctx: Context) -> int:
    console = ctx.console
    console.step("preflight", "variables, AWS identity and region")
    account = preflight(ctx, needs_secrets=False).account
    stack = ctx.stack()
    status = stack.status()
    outputs = stack.outputs() if status else {}
    console.step("verify", f"{ctx.env.stack_name} against the plan")
    checks = run_verify(ctx, outputs, account, status=status)
    failed = [c.name for c in checks if not c.ok]
    over: OverBudgetError | None = None
    try:
        spend_report(ctx.spend_sources(outputs), console)
    except OverBudgetError as exc:
        over = exc
    except SpendSourceError as exc:
        console.detail(f"FAIL spend: {exc}")
        failed.append("spend")
    if failed:
        raise VerifyFailedError(failed)
    console.line(f"verified: {len(checks)} checks passed")
    if over is not None:
        raise over
    return 0


def spend_only(ctx: Context) -> int:
    """`make spend`: the plan-vs-actual report alone; exit 4 (OverBudgetError) when a forecast exceeds its budget."""
    problems = ctx.env.problems(ctx.plan, needs_secrets=False)
    for problem in problems:
        ctx.console.line(f"  {problem}")
    if problems:
        raise PreflightError(problems)
    stack = ctx.stack()
    outputs = stack.outputs() if stack.status() else {}
    return spend_report(ctx.spend_sources(outputs), ctx.console)
