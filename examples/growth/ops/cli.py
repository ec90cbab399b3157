"""`python -m ops deploy|verify|rollback|spend`: the scripts at the repository root (and `make spend`) call this."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws import Clients
from ops.config import OpsEnv, OpsPlan
from ops.console import Console
from ops.deploy import Context, Hooks, deploy, spend_only, verify_only
from ops.errors import OpsError
from ops.rollback import rollback


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    d = commands.add_parser("deploy", help="deploy the stack and a new release of the workers")
    d.add_argument("--yes", action="store_true", help="apply the change set without asking (CI)")
    d.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    d.add_argument(
        "--preflight", action="store_true", help="only run the checks the deploy starts with; change nothing"
    )
    v = commands.add_parser("verify", help="check the deployed stack against the plan")
    v.add_argument("--dry-run", action="store_true", help="verify only reads; accepted for symmetry")
    commands.add_parser(
        "spend",
        help="month-to-date spend and month-end forecast against the plan; exit 4 when a forecast exceeds its budget",
    )
    r = commands.add_parser("rollback", help="move live back and restore its schedules")
    r.add_argument("--version", help="the Lambda version to go back to (default: the previous one)")
    r.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    return root


def main(argv: Sequence[str] | None = None, *, hooks: Hooks | None = None, console: Console | None = None) -> int:
    args = parser().parse_args(argv)
    console = console or Console()
    try:
        plan = OpsPlan.load()
        env = OpsEnv.from_environ(plan)
        ctx = Context(plan, env, Clients.for_region(env.region or plan.region), console, hooks or Hooks())
        if args.command == "deploy":
            return deploy(ctx, yes=args.yes, dry_run=args.dry_run, preflight_only=args.preflight)
        if args.command == "verify":
            return verify_only(ctx)
        if args.command == "spend":
            return spend_only(ctx)
        return rollback(ctx, version=args.version, dry_run=args.dry_run)
    except OpsError as exc:
        console.line(f"{args.command} failed: {exc}")
        return exc.exit_code
    except ClientError as exc:  # an AWS refusal outside a step (a step names itself and undoes its run)
        error = exc.response.get("Error", {})
        console.line(f"{args.command} failed: AWS {exc.operation_name}: {error.get('Code')} ({error.get('Message')})")
        return 1
    except BotoCoreError as exc:
        console.line(f"{args.command} failed: AWS {type(exc).__name__}: {exc}")
        return 1
    except KeyboardInterrupt:
        console.line(f"{args.command} interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
