"""Preflight: everything a deploy needs, checked before anything is created. It only reads.

Each check prints one line, `ok`, `WARN` (the deploy goes on, differently), `skip` (an earlier failure makes
it meaningless) or `FAIL` (one line per problem). Any FAIL stops with PreflightError (exit 2). `./deploy.sh
--preflight` runs this alone; the deploy runs it first and uses what it learned (the account id, the engine
versions the region offers, the reserved concurrency the account can afford).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ops.aws import Clients
from ops.concurrency import Concurrency, account_concurrency
from ops.config import OpsEnv, OpsPlan
from ops.console import Console
from ops.engines import EngineVersions, region_offers
from ops.errors import PreflightError
from ops.qstash_check import qstash_problems
from ops.release import LAMBDA_PYTHON_VERSION, find_bytecode_python

MIN_PYTHON = (3, 11)
T = TypeVar("T")


@dataclass
class Findings:
    """What the preflight learned, for the deploy that follows."""

    account: str = ""
    versions: EngineVersions | None = None
    concurrency: Concurrency | None = None


class _Report:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.problems: list[str] = []

    def ok(self, name: str, detail: str) -> None:
        self.console.detail(f"ok   {name}: {detail}")

    def warn(self, name: str, detail: str) -> None:
        self.console.detail(f"WARN {name}: {detail}")

    def skip(self, name: str, detail: str) -> None:
        self.console.detail(f"skip {name}: {detail}")

    def fail(self, name: str, problems: list[str]) -> None:
        for problem in problems:
            self.problems.append(problem)
            self.console.detail(f"FAIL {name}: {problem}")

    def aws(self, name: str, call: Callable[[], T]) -> T | None:
        """Run an AWS read; a refusal or an unreachable endpoint is this check's FAIL, never a traceback."""
        try:
            return call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            self.fail(name, [f"{exc.operation_name}: {error.get('Code', '?')} ({error.get('Message', '')})"])
        except NoCredentialsError:
            self.fail(name, ["no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"])
        except BotoCoreError as exc:
            self.fail(name, [f"{type(exc).__name__}: {exc}"])
        return None


def _python(report: _Report) -> None:
    found = sys.version.split()[0]
    if sys.version_info < MIN_PYTHON:
        report.fail("python", [f"Python {'.'.join(map(str, MIN_PYTHON))}+ is required (found {found})"])
    else:
        report.ok("python", found)


def _tools(report: _Report, *, packaging: bool) -> None:
    if not packaging:
        return
    # The package step runs `python -m pip install --platform ...` for the Lambda runtime's wheels.
    if importlib.util.find_spec("pip") is None:
        report.fail("tools", ["pip is not installed in this Python (the package step needs it): run make install"])
    else:
        report.ok("tools", "pip")
    # Bytecode is an optimisation: without a Python of the runtime's version the deploy still works.
    compiler = find_bytecode_python()
    if compiler is None:
        report.warn(
            "bytecode",
            f"no Python {LAMBDA_PYTHON_VERSION} found (python{LAMBDA_PYTHON_VERSION} on PATH, pyenv): the package"
            " ships sources only and each cold start compiles the modules it imports",
        )
    else:
        report.ok("bytecode", f"{compiler.cache_tag} by {compiler.executable}")


def _budget(report: _Report, budgets: Any, account: str, plan: OpsPlan) -> None:
    budget = plan.budget
    low, high, limit = budget.aws_estimate_low, budget.aws_estimate_high, budget.limit_usd
    if low > limit:
        report.fail(
            "budget",
            [
                f"the plan's AWS low estimate ${low:,.2f}/month exceeds the AWS budget ${limit:,.2f}/month:"
                " raise aws_budget or plan fewer users (betagen estimate shows both)"
            ],
        )
        return

    def existing() -> float | None:
        try:
            described = budgets.describe_budget(AccountId=account, BudgetName=budget.name)["Budget"]
        except budgets.exceptions.NotFoundException:
            return None
        return float(described["BudgetLimit"]["Amount"])

    before = len(report.problems)
    current = report.aws("budget", existing)
    if len(report.problems) > before:
        return
    if current is None:
        state = f"{budget.name} is created by the stack"
    elif abs(current - limit) > 0.005:
        state = f"{budget.name} is ${current:,.2f} now; the stack sets it to the plan's"
    else:
        state = f"{budget.name} is in place"
    if high > limit:
        # At risk (the plan's own verdict): the expected use fits, the ceiling does not. The deploy goes on; the
        # budget's alerts are what tells the founder when the month heads past it.
        report.warn(
            "budget",
            f"at risk: the plan's AWS estimate ${low:,.2f}-${high:,.2f}/month passes the ${limit:,.2f} AWS budget at"
            f" its high end; {state} and alerts at {', '.join(f'{t}%' for t in budget.thresholds)}"
            " (raise aws_budget to cover the high estimate: betagen estimate shows it)",
        )
        return
    report.ok("budget", f"the plan's AWS high estimate ${high:,.2f}/month fits the ${limit:,.2f} AWS budget; {state}")


def _azure(report: _Report, env: OpsEnv) -> None:
    from ops.azure_check import azure_problems, deployments_from_plan

    deployments = deployments_from_plan()
    problems = azure_problems(
        env.values.get("AZURE_OPENAI_BASE_URL", ""), env.values.get("AZURE_OPENAI_API_KEY", ""), deployments
    )
    if problems:
        report.fail("azure", problems)
    else:
        report.ok("azure", f"{len(deployments)} deployment(s) answer: {', '.join(deployments)}")


def preflight(
    plan: OpsPlan,
    env: OpsEnv,
    clients: Clients,
    console: Console,
    template_path: Path,
    *,
    full: bool,
    needs_secrets: bool,
) -> Findings:
    """Run the checks; `full` adds the ones only a deploy needs (region offers, quota, QStash, Azure, budget)."""
    report = _Report(console)
    found = Findings()
    _python(report)
    _tools(report, packaging=full)
    if not template_path.is_file():
        report.fail("files", [f"{template_path} is missing: run from the repository root"])
    variables = env.problems(plan, needs_secrets=needs_secrets)
    if variables:
        report.fail("variables", variables)
    else:
        report.ok("variables", "all set" if needs_secrets else "region and stack")

    identity = None
    if env.region:
        identity = report.aws("aws", clients.sts.get_caller_identity)
        if identity is not None:
            found.account = str(identity["Account"])
            report.ok("aws", f"{identity['Arn']} in {env.region}")
    else:
        report.skip("aws", "AWS_REGION is not set")
    in_region = identity is not None and env.region == plan.region

    if full:
        if in_region:
            _region_and_quota(report, found, plan, env, clients)
            _budget(report, clients.budgets, found.account, plan)
        else:
            for name in ("region", "concurrency", "budget"):
                report.skip(name, "needs working AWS credentials in the plan's region")
        _qstash(report, plan, env)
        if plan.needs_azure_ai:
            if {"AZURE_OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY"} <= set(env.values):
                _azure(report, env)
            else:
                report.skip("azure", "AZURE_OPENAI_BASE_URL and AZURE_OPENAI_API_KEY are needed")
    if report.problems:
        raise PreflightError(report.problems)
    return found


def _region_and_quota(report: _Report, found: Findings, plan: OpsPlan, env: OpsEnv, clients: Clients) -> None:
    db, cache = plan.database, plan.cache
    offers = report.aws("region", lambda: region_offers(clients.rds, clients.elasticache, db, cache, env.region))
    if offers is not None:  # None: the AWS error is already this check's FAIL line
        versions, problems = offers
        if problems:
            report.fail("region", problems)
        elif versions is not None:
            found.versions = versions
            report.ok(
                "region",
                f"{env.region} offers {db.engine} {versions.database} on {db.instance_class} and"
                f" {cache.engine} {versions.cache} on {cache.node_type}",
            )

    concurrency = report.aws(
        "concurrency",
        lambda: account_concurrency(clients.lambda_, plan.workers_function, plan.reserved_concurrency),
    )
    if concurrency is not None:
        found.concurrency = concurrency
        (report.warn if concurrency.reduced else report.ok)("concurrency", concurrency.describe(env.region))


def _qstash(report: _Report, plan: OpsPlan, env: OpsEnv) -> None:
    needed = ("QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY")
    if not env.qstash_url or not set(needed) <= set(env.values):
        # The variables check already named what is missing: no second line for the same cause.
        report.skip("qstash", "needs QSTASH_URL, QSTASH_TOKEN and both signing keys")
        return
    detail, problems = qstash_problems(
        env.qstash_url,
        env.values["QSTASH_TOKEN"],
        env.values["QSTASH_CURRENT_SIGNING_KEY"],
        env.values["QSTASH_NEXT_SIGNING_KEY"],
        plan.qstash,
    )
    if problems:
        report.fail("qstash", problems)
    else:
        report.ok("qstash", detail)
