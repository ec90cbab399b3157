"""deploy.sh and rollback.sh through the ops package, against moto server and the QStash stand-in.

The stack is created on moto from the rendered template (the types moto supports); the release path
(package upload, publish_version, the `live` alias, the recorded plan), the RDS snapshot, the app secret,
migrations on the real PostgreSQL, QStash schedules and verify all run for real.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict
from qstash import QStash

from app.plan import load_plan
from app.schedules import desired_schedules
from app.settings import DEFAULT_PLAN_PATH
from devstack.qstash_server import QStashStandIn
from ops.concurrency import QUOTA_CODE
from ops.config import QStashRegion, QStashRegions
from ops.deploy import deploy
from ops.errors import PreflightError, StepFailedError
from ops.rollback import rollback
from ops.schedules import plan_key
from tests.helpers import Services
from tests.ops_support import (
    ACCOUNT_ID,
    CACHE_AUTH_TOKEN,
    DB_PASSWORD,
    AccountFacts,
    Deployed,
    Recorder,
    ops_context,
    tiny_package,
)

pytest_plugins = ["tests.conftest_ops"]


def _live(deployed: Deployed) -> str:
    lam = deployed.world.client("lambda")
    return str(lam.get_alias(FunctionName=deployed.outputs["WorkersFunctionName"], Name="live")["FunctionVersion"])


def _secrets_in(config: dict[str, Any], services: Services) -> list[str]:
    text = json.dumps(config.get("Environment", {}), default=str)
    return sorted(name for name, value in _named_secrets(services).items() if value in text)


def _named_secrets(services: Services) -> dict[str, str]:
    return {
        "QSTASH_TOKEN": services.qstash.token,
        "QSTASH_CURRENT_SIGNING_KEY": services.current_key,
        "QSTASH_NEXT_SIGNING_KEY": services.next_key,
        "AZURE_OPENAI_API_KEY": services.azure.api_key,
        "database password": DB_PASSWORD,
        "cache AUTH token": CACHE_AUTH_TOKEN,
    }


def _schedules(services: Services) -> dict[str, str]:
    client = QStash(services.qstash.token, retry=False, base_url=services.qstash.url)
    return {s.schedule_id: s.cron for s in client.schedule.list()}


def _expected_schedules(deployed: Deployed) -> dict[str, str]:
    plan = load_plan(DEFAULT_PLAN_PATH)
    return {d.schedule_id: d.cron for d in desired_schedules(plan, deployed.world.health.url)}


def test_deploy_publishes_a_version_moves_live_and_syncs_schedules(
    deployed: Deployed, recorder: Recorder, services: Services, db_conn: Any
) -> None:
    ctx = ops_context(deployed, recorder)
    assert deploy(ctx, yes=True, dry_run=False) == 0

    workers = deployed.outputs["WorkersFunctionName"]
    lam = deployed.world.client("lambda")
    live = _live(deployed)
    assert live != "$LATEST"
    config = lam.get_function_configuration(FunctionName=workers, Qualifier=live)
    env = config["Environment"]["Variables"]
    assert config["Handler"] == "app.main.handler"
    assert env["PUBLIC_BASE_URL"] == deployed.world.health.url
    assert env["QSTASH_URL"] == services.qstash.url
    # No key in the version: the app reads them from the secrets the stack names.
    assert env["APP_SECRET_ARN"] == deployed.outputs["AppSecretArn"]
    assert env["REDIS_AUTH_SECRET_ARN"] == deployed.outputs["CacheAuthSecretArn"]
    assert _secrets_in(config, services) == []
    # No database password in the version: the stack points it at the secret RDS manages and rotates.
    assert env["DATABASE_SECRET_ARN"] == deployed.outputs["DatabaseSecretArn"]
    conninfo = conninfo_to_dict(env["DATABASE_URL"])
    assert (conninfo["host"], conninfo["dbname"]) == (deployed.outputs["DatabaseEndpoint"], "app")
    assert not {"user", "password"} & set(conninfo)
    assert not any(DB_PASSWORD in value for value in env.values())
    # Nor does the migration step hand one to the cron Lambda (it reads the same secret itself).
    assert recorder.overlays
    assert all("DATABASE_URL" not in overlay for overlay in recorder.overlays)
    cron = lam.get_function_configuration(FunctionName=deployed.outputs["CronFunctionName"])
    assert cron["Environment"]["Variables"]["DATABASE_SECRET_ARN"] == deployed.outputs["DatabaseSecretArn"]
    # The plan of the version is kept for rollback, and the migrations ran on the real database.
    s3 = deployed.world.client("s3")
    body = s3.get_object(Bucket=deployed.outputs["ArtifactsBucketName"], Key=plan_key(workers, live))["Body"].read()
    assert load_plan(DEFAULT_PLAN_PATH).model_dump_json(indent=2).encode() == body
    applied = {row[0] for row in db_conn.execute("SELECT name FROM schema_migrations")}
    assert "0001_core.sql" in applied
    # A pre-deploy snapshot of the instance the stack created.
    snapshots = deployed.world.client("rds").describe_db_snapshots(
        DBInstanceIdentifier=deployed.outputs["DatabaseInstanceId"]
    )
    assert any(
        s["DBSnapshotIdentifier"].startswith(f"{deployed.world.plan.slug}-predeploy-") for s in snapshots["DBSnapshots"]
    )
    # The app secret holds the keys now (moto's Secrets Manager).
    secret = deployed.world.client("secretsmanager").get_secret_value(SecretId=deployed.outputs["AppSecretArn"])
    assert services.qstash.token in secret["SecretString"]
    assert _schedules(services) == _expected_schedules(deployed)
    out = deployed.world.output
    for step in ("preflight", "stack", "database", "snapshot", "migrate", "publish", "alias", "schedules", "verify"):
        assert f"==> {step}:" in out
    assert f"deployed: live = version {live}" in out
    # No secret value is ever printed.
    for value in (services.qstash.token, services.current_key, services.next_key, services.azure.api_key, DB_PASSWORD):
        assert value not in out


def test_no_secret_is_in_any_function_environment_after_a_deploy(
    deployed: Deployed, recorder: Recorder, services: Services
) -> None:
    """The keys are in the app secret, which the functions read at cold start; anyone allowed
    lambda:GetFunctionConfiguration sees no key, token or password in any version, even one an older
    release had copied into $LATEST."""
    lam = deployed.world.client("lambda")
    workers, cron = deployed.outputs["WorkersFunctionName"], deployed.outputs["CronFunctionName"]
    for function in (workers, cron):
        variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        leftover = {name: value for name, value in _named_secrets(services).items() if name.isupper()}
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": {**variables, **leftover}})

    assert deploy(ops_context(deployed, recorder), yes=True, dry_run=False) == 0

    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=workers)["Versions"]]
    assert len(versions) >= 2  # $LATEST and the version just published
    configs = {f"{workers}:{v}": lam.get_function_configuration(FunctionName=workers, Qualifier=v) for v in versions}
    configs[cron] = lam.get_function_configuration(FunctionName=cron)
    assert {name: _secrets_in(config, services) for name, config in configs.items()} == {name: [] for name in configs}
    live = configs[f"{workers}:{_live(deployed)}"]["Environment"]["Variables"]
    assert live["APP_SECRET_ARN"] == deployed.outputs["AppSecretArn"]
    # What the functions read instead: every key, in the app secret.
    stored = deployed.world.client("secretsmanager").get_secret_value(SecretId=deployed.outputs["AppSecretArn"])
    assert json.loads(stored["SecretString"]) == {
        name: value for name, value in _named_secrets(services).items() if name.isupper()
    }


def test_a_failing_verify_puts_live_back_and_names_the_step(
    deployed: Deployed, recorder: Recorder, services: Services
) -> None:
    assert deploy(ops_context(deployed, recorder), yes=True, dry_run=False) == 0
    first = _live(deployed)
    schedules_before = _schedules(services)

    deployed.world.health.status = 503  # the new release's /health fails
    ctx = ops_context(deployed, recorder, package=tiny_package("v2"))
    with pytest.raises(StepFailedError) as failure:
        deploy(ctx, yes=True, dry_run=False)

    assert failure.value.step == "verify"
    assert "health" in str(failure.value)
    assert _live(deployed) == first
    assert _schedules(services) == schedules_before
    assert f"undo: live back to version {first}" in ctx.console.out.getvalue()


def test_a_failing_migration_stops_before_the_release(deployed: Deployed, recorder: Recorder) -> None:
    assert deploy(ops_context(deployed, recorder), yes=True, dry_run=False) == 0
    first = _live(deployed)
    recorder.fail_with = "relation already exists"
    with pytest.raises(StepFailedError) as failure:
        deploy(ops_context(deployed, recorder, package=tiny_package("v2")), yes=True, dry_run=False)
    assert failure.value.step == "migrate"
    assert "relation already exists" in str(failure.value)
    assert _live(deployed) == first


def test_the_cli_exits_non_zero_naming_the_step(
    deployed: Deployed, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.cli import main
    from ops.deploy import Hooks

    deployed.world.health.status = 500
    hooks = Hooks(package=tiny_package, migrate=recorder.migrate, sleep=lambda s: None, stack_poll_seconds=0)
    monkeypatch.setattr("ops.aws.Clients.for_region", _with_cloudformation(deployed))
    assert main(["deploy", "--yes"], hooks=hooks) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "deploy failed: step 'verify' failed" in last


def _with_cloudformation(deployed: Deployed, facts: AccountFacts | None = None) -> Any:
    """The CLI's clients, against moto, the change-set stand-in and the account facts moto lacks."""
    from ops.aws import Clients

    original = Clients.for_region

    def build(region: str) -> Clients:
        clients: Clients = (facts or AccountFacts()).wire(original(region), deployed.world.plan)
        clients.cloudformation = deployed.cloudformation
        return clients

    return build


def test_rollback_moves_live_to_the_previous_version_and_restores_its_schedules(
    deployed: Deployed, recorder: Recorder, services: Services
) -> None:
    assert deploy(ops_context(deployed, recorder), yes=True, dry_run=False) == 0
    first = _live(deployed)
    assert deploy(ops_context(deployed, recorder, package=tiny_package("v2")), yes=True, dry_run=False) == 0
    second = _live(deployed)
    assert int(second) > int(first)
    # Someone changed the schedules by hand after the second release.
    client = QStash(services.qstash.token, retry=False, base_url=services.qstash.url)
    for schedule_id in _schedules(services):
        client.schedule.delete(schedule_id)

    ctx = ops_context(deployed, recorder)
    assert rollback(ctx, version=None, dry_run=False) == 0
    assert _live(deployed) == first
    assert _schedules(services) == _expected_schedules(deployed)
    assert f"rolled back: live = version {first}" in ctx.console.out.getvalue()


def test_rollback_to_a_named_version_and_dry_run(deployed: Deployed, recorder: Recorder) -> None:
    for marker in ("v1", "v2", "v3"):
        assert deploy(ops_context(deployed, recorder, package=tiny_package(marker)), yes=True, dry_run=False) == 0
    third = _live(deployed)
    target = str(int(third) - 2)

    dry = ops_context(deployed, recorder)
    assert rollback(dry, version=target, dry_run=True) == 0
    assert _live(deployed) == third
    assert f"would move live from {third} to {target}" in dry.console.out.getvalue()

    assert rollback(ops_context(deployed, recorder), version=target, dry_run=False) == 0
    assert _live(deployed) == target
    with pytest.raises(StepFailedError, match=r"version 99 .* does not exist"):
        rollback(ops_context(deployed, recorder), version="99", dry_run=False)


def test_dry_run_changes_nothing(deployed: Deployed, recorder: Recorder, services: Services) -> None:
    workers = deployed.outputs["WorkersFunctionName"]
    lam = deployed.world.client("lambda")
    versions_before = lam.list_versions_by_function(FunctionName=workers)["Versions"]
    ctx = ops_context(deployed, recorder)
    assert deploy(ctx, yes=False, dry_run=True) == 0
    assert lam.list_versions_by_function(FunctionName=workers)["Versions"] == versions_before
    assert _schedules(services) == {}
    assert recorder.overlays == []
    out = ctx.console.out.getvalue()
    assert "dry run: nothing was changed" in out
    assert "+ " + next(iter(_expected_schedules(deployed))) in out


def test_redeploy_changes_no_secret_and_no_schedule(deployed: Deployed, recorder: Recorder) -> None:
    assert deploy(ops_context(deployed, recorder), yes=True, dry_run=False) == 0
    ctx = ops_context(deployed, recorder)
    assert deploy(ctx, yes=True, dry_run=False) == 0
    out = ctx.console.out.getvalue()
    out = out[out.rindex("==> preflight") :]  # the second run only
    assert "unchanged" in out  # the app secret
    assert "\n" + " " * 10 + "+ " not in out  # no schedule created the second time


def _failures(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("FAIL ")]


def test_preflight_reports_each_problem_on_one_line(deployed: Deployed, recorder: Recorder) -> None:
    world = deployed.world
    for name in ("QSTASH_TOKEN", "QSTASH_NEXT_SIGNING_KEY"):
        world.environ.pop(name)
    world.environ["AWS_REGION"] = "eu-north-1" if world.plan.region != "eu-north-1" else "us-west-2"
    ctx = ops_context(deployed, recorder)
    with pytest.raises(PreflightError) as failure:
        deploy(ctx, yes=True, dry_run=False)
    lines = _failures(ctx.console.out.getvalue())
    assert len(lines) == 3 == len(failure.value.problems)
    assert any("QSTASH_TOKEN is not set" in line for line in lines)
    assert any("QSTASH_NEXT_SIGNING_KEY is not set" in line for line in lines)
    assert any(f"the plan deploys to {world.plan.region}" in line for line in lines)
    assert failure.value.exit_code == 2
    assert recorder.overlays == []
    assert deployed.cloudformation.change_sets == []  # nothing was asked of CloudFormation


def test_preflight_alone_checks_everything_and_changes_nothing(deployed: Deployed, recorder: Recorder) -> None:
    workers = deployed.outputs["WorkersFunctionName"]
    lam = deployed.world.client("lambda")
    versions_before = lam.list_versions_by_function(FunctionName=workers)["Versions"]
    ctx = ops_context(deployed, recorder)
    assert deploy(ctx, yes=False, dry_run=False, preflight_only=True) == 0
    out = ctx.console.out.getvalue()
    plan = deployed.world.plan
    checks = ["python", "tools", "variables", "aws", "region", "concurrency", "budget", "qstash"]
    for check in checks + (["azure"] if plan.needs_azure_ai else []):
        assert f"ok   {check}:" in out, check
    assert ("azure:" in out) is plan.needs_azure_ai
    assert _failures(out) == []
    # The versions the region offers, as resolved: the default minor of the major, the newest of the cache's.
    facts = AccountFacts()
    assert f"{plan.database.engine} {facts.database_version} on {plan.database.instance_class}" in out
    assert f"{plan.cache.engine} {facts.expected_cache_version(plan.cache.major)} on {plan.cache.node_type}" in out
    assert f"reserving {plan.reserved_concurrency} of the account's {facts.limit}" in out
    assert "preflight passed: nothing was changed" in out
    assert deployed.cloudformation.change_sets == []
    assert lam.list_versions_by_function(FunctionName=workers)["Versions"] == versions_before
    assert recorder.overlays == []


def test_the_cli_runs_the_preflight_alone(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.cli import main

    monkeypatch.setattr("ops.aws.Clients.for_region", _with_cloudformation(deployed))
    assert main(["deploy", "--preflight"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("preflight passed: nothing was changed")
    assert deployed.cloudformation.change_sets == []


def test_an_empty_qstash_url_stops_the_preflight_in_one_line(
    deployed: Deployed, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.cli import main

    deployed.world.environ["QSTASH_URL"] = ""
    ctx = ops_context(deployed, recorder)
    with pytest.raises(PreflightError) as failure:
        deploy(ctx, yes=True, dry_run=False, preflight_only=True)
    lines = _failures(ctx.console.out.getvalue())
    assert len(lines) == 1 == len(failure.value.problems)
    assert lines[0].startswith("FAIL variables: QSTASH_URL is not set")
    # It names both regions' URLs, the plan's recommendation first.
    recommended = next(r for r in deployed.world.plan.qstash.regions if r.id == deployed.world.plan.qstash.recommended)
    assert f"{recommended.url} ({recommended.name}, recommended for this plan)" in lines[0]
    assert all(r.url in lines[0] for r in deployed.world.plan.qstash.regions)

    # Through the CLI: exit 2, the last line counts the problems, no traceback.
    monkeypatch.setenv("QSTASH_URL", "")
    monkeypatch.setattr("ops.aws.Clients.for_region", _with_cloudformation(deployed))
    assert main(["deploy", "--preflight"]) == 2
    out = capsys.readouterr().out
    assert "Traceback" not in out
    last = out.strip().splitlines()[-1]
    assert last.endswith("deploy failed: 1 preflight problem(s), each listed above; nothing was changed")


@pytest.fixture
def us_region(services: Services) -> Iterator[QStashStandIn]:
    """A second QStash stand-in standing for the other region: its own token and signing keys."""
    server = QStashStandIn(token="us-region-token", keys=("sig_us_current_key_0000", "sig_us_next_key_1111")).start()
    yield server
    server.stop()


def _two_regions(deployed: Deployed, services: Services, us: QStashStandIn) -> None:
    """The plan's QStash regions, with the session's stand-in as EU and `us` as US."""
    world = deployed.world
    world.plan = dataclasses.replace(
        world.plan,
        qstash=QStashRegions(
            recommended=world.plan.qstash.recommended,
            regions=(
                QStashRegion("eu-central-1", "EU", services.qstash.url, ()),
                QStashRegion("us-east-1", "US", us.url, ()),
            ),
        ),
    )


def test_a_token_from_the_other_region_stops_the_preflight_naming_it(
    deployed: Deployed, recorder: Recorder, services: Services, us_region: QStashStandIn
) -> None:
    # The EU URL with the US account's token and keys, as when the URL was left at QStash's old default.
    _two_regions(deployed, services, us_region)
    world = deployed.world
    world.environ.update(
        QSTASH_URL=services.qstash.url,
        QSTASH_TOKEN=us_region.token,
        QSTASH_CURRENT_SIGNING_KEY=us_region.keys[0],
        QSTASH_NEXT_SIGNING_KEY=us_region.keys[1],
    )
    ctx = ops_context(deployed, recorder)
    with pytest.raises(PreflightError):
        deploy(ctx, yes=True, dry_run=False)
    lines = _failures(ctx.console.out.getvalue())
    assert len(lines) == 1
    assert lines[0].startswith("FAIL qstash: QSTASH_TOKEN is not valid in QStash's EU (eu-central-1")
    assert "HTTP 401" in lines[0]
    assert f"the other region is US: {us_region.url}" in lines[0]
    assert us_region.token not in ctx.console.out.getvalue()
    assert deployed.cloudformation.change_sets == []


def test_signing_keys_of_another_account_or_region_stop_the_preflight(
    deployed: Deployed, recorder: Recorder, services: Services, us_region: QStashStandIn
) -> None:
    # The US URL and token are right, the keys were copied from the EU account.
    _two_regions(deployed, services, us_region)
    deployed.world.environ.update(QSTASH_URL=us_region.url, QSTASH_TOKEN=us_region.token)
    ctx = ops_context(deployed, recorder)
    with pytest.raises(PreflightError):
        deploy(ctx, yes=True, dry_run=False, preflight_only=True)
    lines = _failures(ctx.console.out.getvalue())
    assert len(lines) == 1
    assert "are not the signing keys of QStash's US (us-east-1" in lines[0]
    assert "belong to another QStash account or region" in lines[0]
    for key in (services.current_key, services.next_key, *us_region.keys):
        assert key not in ctx.console.out.getvalue()


def test_an_unknown_qstash_host_is_named(deployed: Deployed, recorder: Recorder) -> None:
    deployed.world.environ["QSTASH_URL"] = "https://qstash.example.com"
    ctx = ops_context(deployed, recorder)
    with pytest.raises(PreflightError):
        deploy(ctx, yes=True, dry_run=False, preflight_only=True)
    lines = _failures(ctx.console.out.getvalue())
    assert len(lines) == 1
    assert "QSTASH_URL https://qstash.example.com is not a QStash region" in lines[0]


def test_a_low_concurrency_quota_deploys_without_reserved_concurrency_and_says_so(
    deployed: Deployed, recorder: Recorder
) -> None:
    planned = deployed.world.plan.reserved_concurrency
    assert planned > 0
    # A new account whose quota is 10 concurrent executions: nothing can be reserved in it.
    deployed.world.client("lambda").delete_function_concurrency(FunctionName=deployed.outputs["WorkersFunctionName"])
    facts = AccountFacts(limit=10, unreserved=10)
    ctx = ops_context(deployed, recorder, facts=facts)
    assert deploy(ctx, yes=True, dry_run=False) == 0
    assert deployed.cloudformation.parameters()["ReservedConcurrency"] == "0"
    out = ctx.console.out.getvalue()
    warnings = [line.strip() for line in out.splitlines() if line.strip().startswith("WARN concurrency:")]
    assert len(warnings) == 1
    assert "WITHOUT reserved concurrency" in warnings[0]
    assert f"'Concurrent executions' (quota code {QUOTA_CODE}) of at least {planned + 100}" in warnings[0]
    assert f"region {deployed.world.plan.region}" in warnings[0]
    assert "deployed: live = version" in out


def test_an_update_keeps_the_engine_versions_and_turns_deletion_protection_on(
    deployed: Deployed, recorder: Recorder
) -> None:
    ctx = ops_context(deployed, recorder)
    assert deploy(ctx, yes=True, dry_run=False) == 0
    # The stack on moto has every parameter: the running versions stay, the account affords the plan's.
    assert deployed.cloudformation.parameters() == {
        "DatabaseDeletionProtection": "true",
        "DatabaseEngineVersion": True,
        "CacheEngineVersion": True,
        "ReservedConcurrency": str(deployed.world.plan.reserved_concurrency),
    }
    assert deployed.cloudformation.requests[-1]["ChangeSetType"] == "UPDATE"


def test_budget_and_alarms_exist_as_the_plan_says(deployed: Deployed) -> None:
    plan = deployed.world.plan
    budget = deployed.world.client("budgets").describe_budget(AccountId=ACCOUNT_ID, BudgetName=plan.budget.name)
    assert float(budget["Budget"]["BudgetLimit"]["Amount"]) == pytest.approx(plan.budget.limit_usd)
    alarms = deployed.world.client("cloudwatch").describe_alarms(AlarmNames=list(plan.alarm_names))["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(plan.alarm_names)


def test_a_class_or_node_type_the_region_lacks_stops_the_preflight(deployed: Deployed, recorder: Recorder) -> None:
    plan = deployed.world.plan
    ctx = ops_context(deployed, recorder, facts=AccountFacts(class_offered=False, node_offered=False))
    with pytest.raises(PreflightError):
        deploy(ctx, yes=True, dry_run=False, preflight_only=True)
    lines = _failures(ctx.console.out.getvalue())
    assert lines == [
        f"FAIL region: RDS in {plan.region} has no {plan.database.instance_class} for {plan.database.engine}"
        f" {AccountFacts().database_version} (choose another region, or another tier with --users)",
        f"FAIL region: ElastiCache in {plan.region} does not offer {plan.cache.node_type}",
    ]


def test_a_plan_whose_low_aws_estimate_exceeds_the_budget_stops_the_preflight(
    deployed: Deployed, recorder: Recorder
) -> None:
    world = deployed.world
    low = world.plan.budget.aws_estimate_low
    world.plan = dataclasses.replace(world.plan, budget=dataclasses.replace(world.plan.budget, limit_usd=low - 1))
    ctx = ops_context(deployed, recorder)
    with pytest.raises(PreflightError):
        deploy(ctx, yes=True, dry_run=False, preflight_only=True)
    lines = _failures(ctx.console.out.getvalue())
    assert len(lines) == 1
    assert lines[0].startswith(f"FAIL budget: the plan's AWS low estimate ${low:,.2f}/month exceeds the AWS budget")


def test_a_plan_at_risk_warns_and_the_preflight_passes(deployed: Deployed, recorder: Recorder) -> None:
    world = deployed.world
    low, high = world.plan.budget.aws_estimate_low, world.plan.budget.aws_estimate_high
    assert low < high
    limit = round((low + high) / 2, 2)
    world.plan = dataclasses.replace(world.plan, budget=dataclasses.replace(world.plan.budget, limit_usd=limit))
    ctx = ops_context(deployed, recorder)
    assert deploy(ctx, yes=True, dry_run=False, preflight_only=True) == 0
    out = ctx.console.out.getvalue()
    assert _failures(out) == []
    warned = [line.strip() for line in out.splitlines() if line.strip().startswith("WARN budget:")]
    assert len(warned) == 1
    assert f"${low:,.2f}-${high:,.2f}/month passes the ${limit:,.2f} AWS budget" in warned[0]
