"""rollback: `live` back to the previous (or a named) version, that version's schedules, and the stack
rolled back when its last update failed."""

from __future__ import annotations

from ops.console import Console
from ops.deploy import Context, preflight
from ops.errors import OpsError
from ops.schedules import recorded_plan
from ops.steps import Run


def rollback(ctx: Context, *, version: str | None, dry_run: bool) -> int:
    console: Console = ctx.console
    run = Run(console)
    console.step("preflight", "variables, AWS identity and region")
    preflight(ctx, needs_secrets=False)
    stack = ctx.stack()

    def stack_step() -> str:
        status = stack.status()
        if status is None:
            raise OpsError(f"stack {ctx.env.stack_name} does not exist")
        if status in ("UPDATE_ROLLBACK_FAILED", "UPDATE_IN_PROGRESS"):
            return stack.roll_back(dry_run=dry_run)
        if stack.last_update_failed():
            return f"{status}: CloudFormation already rolled the last update back"
        return f"{status}: nothing to roll back"

    console.detail(run.step("stack", f"{ctx.env.stack_name} status", stack_step))
    outputs = stack.outputs()
    workers = outputs["WorkersFunctionName"]
    releaser = ctx.releaser()
    live = releaser.live_version(workers)

    def pick() -> str:
        if version is not None:
            if int(version) not in releaser.versions(workers):
                raise OpsError(f"version {version} of {workers} does not exist")
            return version
        target = releaser.previous_version(workers)
        if target is None:
            raise OpsError(f"no version older than the live one ({live}) to roll back to")
        return target

    target = run.step("alias", f"live {live} -> previous" if version is None else f"live {live} -> {version}", pick)
    if dry_run:
        console.detail(f"dry run: would move live from {live} to {target}")
    elif target != live:
        releaser.move_alias(workers, target, note=f"rollback from {live}")
        if live is not None:
            run.on_failure(f"live back to version {live}", lambda: releaser.move_alias(workers, live))
        console.detail(f"live = version {target} (was {live})")
    else:
        console.detail(f"live already on {target}")

    def schedules_step() -> None:
        bucket = outputs.get("ArtifactsBucketName", "")
        plan = recorded_plan(ctx.clients.s3, bucket, workers, target) if bucket else None
        if plan is None:
            console.detail(f"no plan recorded for version {target}: schedules left as they are")
            return
        if not ctx.env.values.get("QSTASH_TOKEN"):
            raise OpsError("QSTASH_TOKEN is not set: cannot restore the schedules")
        ctx.schedules(ctx.public_url(outputs)).sync(plan, dry_run=dry_run)

    run.step("schedules", f"QStash schedules of version {target}", schedules_step)
    console.line("dry run: nothing was changed" if dry_run else f"rolled back: live = version {target}")
    return 0
