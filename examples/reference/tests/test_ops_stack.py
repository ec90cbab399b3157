"""The stack step. Change sets on an existing stack and rollbacks are what moto cannot emulate: those run
against botocore's Stubber, which checks every request and response against the real service model (the
deploy's stack phase too: the parameters each change set carries, the protect step after a first create,
a failed first create cleared, ROLLBACK_FAILED and DELETE_FAILED reported with their recovery commands).
Stack creation runs on moto server, for the resource types its CloudFormation supports."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ops.aws import Clients
from ops.concurrency import decide
from ops.config import OpsEnv, OpsPlan
from ops.console import Console
from ops.deploy import Context, Hooks, deploy_stack
from ops.engines import EngineVersions
from ops.errors import NotConfirmedError, StackStuckError, StepFailedError
from ops.preflight import Findings
from ops.stack import CAPABILITIES, Stack, StackError
from ops.steps import Run
from tests.ops_support import STACK_TEMPLATE, Deployed, load_template

pytest_plugins = ["tests.conftest_ops"]

NAME = "beta"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{NAME}/1"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _stack(status: str) -> dict[str, Any]:
    return {"Stacks": [{"StackName": NAME, "StackId": STACK_ID, "CreationTime": NOW, "StackStatus": status}]}


def _events(*events: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "StackEvents": [
            {
                "StackId": STACK_ID,
                "EventId": f"e{i}",
                "StackName": NAME,
                "Timestamp": NOW,
                "LogicalResourceId": logical,
                "ResourceStatus": status,
                "ResourceStatusReason": reason,
            }
            for i, (logical, status, reason) in enumerate(events)
        ]
    }


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="stub", aws_secret_access_key="stub"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _stack_obj(client: Any, out: io.StringIO) -> Stack:
    return Stack(client, NAME, Console(out=out), poll_seconds=0, sleep=lambda seconds: None)


def _change_set_requested(stubber: Stubber, status: str, reason: str = "", changes: Any = ()) -> None:
    stubber.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": NAME})
    stubber.add_response("create_change_set", {"Id": "cs-1", "StackId": STACK_ID})
    described: dict[str, Any] = {"ChangeSetName": "cs", "StackName": NAME, "Status": status, "Changes": list(changes)}
    if reason:
        described["StatusReason"] = reason
    stubber.add_response("describe_change_set", described, {"StackName": NAME, "ChangeSetName": "cs"})


def test_no_changes_is_not_an_error_and_the_change_set_is_removed(stubbed: Any) -> None:
    client, stubber = stubbed
    _change_set_requested(
        stubber, "FAILED", "The submitted information didn't contain changes. Submit different information."
    )
    stubber.add_response("delete_change_set", {}, {"StackName": NAME, "ChangeSetName": "cs"})
    change_set = _stack_obj(client, io.StringIO()).create_change_set("{}", "cs")
    assert change_set.empty
    assert change_set.change_type == "UPDATE"
    assert change_set.describe() == ["no changes"]


def test_a_failed_change_set_raises_with_cloudformations_reason(stubbed: Any) -> None:
    client, stubber = stubbed
    _change_set_requested(stubber, "FAILED", "Template error: unresolved resource dependencies [Ghost]")
    stubber.add_response("delete_change_set", {}, {"StackName": NAME, "ChangeSetName": "cs"})
    with pytest.raises(StackError, match=r"unresolved resource dependencies \[Ghost\]"):
        _stack_obj(client, io.StringIO()).create_change_set("{}", "cs")


def test_the_diff_is_readable(stubbed: Any) -> None:
    client, stubber = stubbed
    changes = [
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "Database",
                "ResourceType": "AWS::RDS::DBInstance",
                "Replacement": "False",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "Cache",
                "ResourceType": "AWS::ElastiCache::ReplicationGroup",
                "Replacement": "True",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Add",
                "LogicalResourceId": "NatGateway2",
                "ResourceType": "AWS::EC2::NatGateway",
            },
        },
    ]
    _change_set_requested(stubber, "CREATE_COMPLETE", changes=changes)
    change_set = _stack_obj(client, io.StringIO()).create_change_set("{}", "cs")
    assert change_set.describe() == [
        "~ Database [AWS::RDS::DBInstance]",
        "~ Cache [AWS::ElastiCache::ReplicationGroup] (REPLACEMENT)",
        "+ NatGateway2 [AWS::EC2::NatGateway]",
    ]


def test_an_update_cloudformation_rolled_back_fails_the_stack_step_with_its_reason(stubbed: Any) -> None:
    client, stubber = stubbed
    _change_set_requested(stubber, "CREATE_COMPLETE")
    stubber.add_response("execute_change_set", {}, {"StackName": NAME, "ChangeSetName": "cs"})
    stubber.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"), {"StackName": NAME})
    progress = _events(("Database", "UPDATE_IN_PROGRESS", "Resource update started"))
    stubber.add_response("describe_stack_events", progress, {"StackName": NAME})
    stubber.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": NAME})
    failed = _events(
        (NAME, "UPDATE_ROLLBACK_COMPLETE", ""),
        ("Database", "UPDATE_FAILED", "DB instance class db.x9.huge is not supported"),
    )
    stubber.add_response("describe_stack_events", failed, {"StackName": NAME})
    stubber.add_response("describe_stack_events", failed, {"StackName": NAME})
    out = io.StringIO()
    stack = _stack_obj(client, out)
    run = Run(Console(out=out))
    with pytest.raises(StepFailedError) as failure:
        run.step("stack", "change set", lambda: stack.execute(stack.create_change_set("{}", "cs")))
    assert failure.value.step == "stack"
    assert "rolled back (UPDATE_ROLLBACK_COMPLETE)" in str(failure.value)
    assert "Database: DB instance class db.x9.huge is not supported" in str(failure.value)
    assert "waiting: UPDATE_IN_PROGRESS" in out.getvalue()  # progress during the wait


def test_rollback_finishes_a_rollback_cloudformation_could_not(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_FAILED"), {"StackName": NAME})
    stubber.add_response("continue_update_rollback", {}, {"StackName": NAME})
    stubber.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": NAME})
    stubber.add_response("describe_stack_events", _events(), {"StackName": NAME})
    stubber.add_response("describe_stack_events", _events(), {"StackName": NAME})
    assert _stack_obj(client, io.StringIO()).roll_back(dry_run=False) == "UPDATE_ROLLBACK_COMPLETE"


def test_rollback_dry_run_only_reads(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_FAILED"), {"StackName": NAME})
    out = io.StringIO()
    assert _stack_obj(client, out).roll_back(dry_run=True) == "UPDATE_ROLLBACK_FAILED"
    assert "continuing the rollback" in out.getvalue()


def test_moto_creates_the_stacks_supported_resources_with_the_plans_sizes(deployed: Deployed) -> None:
    world = deployed.world
    stack = load_template(STACK_TEMPLATE)
    template = stack["Resources"]
    db_props = template["Database"]["Properties"]
    db = world.client("rds").describe_db_instances(DBInstanceIdentifier=deployed.outputs["DatabaseInstanceId"])
    instance = db["DBInstances"][0]
    assert instance["DBInstanceClass"] == db_props["DBInstanceClass"]
    assert instance["AllocatedStorage"] == int(db_props["AllocatedStorage"])
    assert instance["MultiAZ"] is db_props["MultiAZ"]
    assert instance["StorageEncrypted"] is True
    assert instance["PubliclyAccessible"] is False
    assert instance["BackupRetentionPeriod"] == db_props["BackupRetentionPeriod"]

    fn_props = template["WorkersFunction"]["Properties"]
    function = world.client("lambda").get_function_configuration(FunctionName=deployed.outputs["WorkersFunctionName"])
    assert function["MemorySize"] == fn_props["MemorySize"]
    assert function["Timeout"] == fn_props["Timeout"]
    # moto's CloudFormation drops Architectures (its Lambda defaults to x86_64): the template is checked.
    assert fn_props["Architectures"] == ["arm64"]
    concurrency = world.client("lambda").get_function_concurrency(FunctionName=deployed.outputs["WorkersFunctionName"])
    # Created with the parameters' defaults (the plan's): the condition on ReservedConcurrency keeps the reservation.
    assert concurrency["ReservedConcurrentExecutions"] == stack["Parameters"]["ReservedConcurrency"]["Default"] > 0

    ec2 = world.client("ec2")
    nat_count = sum(1 for r in template.values() if r["Type"] == "AWS::EC2::NatGateway")
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == nat_count
    rule = world.client("events").describe_rule(Name=f"{world.plan.slug}-cron")
    assert rule["ScheduleExpression"] == template["CronRule"]["Properties"]["ScheduleExpression"]
    topics = world.client("sns").list_topics()["Topics"]
    assert [t["TopicArn"] for t in topics] == [deployed.outputs["AlertsTopicArn"]]


def test_moto_template_keeps_only_what_moto_creates() -> None:
    from tests.ops_support import MOTO_UNSUPPORTED, moto_template

    template = moto_template(load_template(STACK_TEMPLATE), {"FunctionUrl": "http://127.0.0.1:1"})
    assert not {r["Type"] for r in template["Resources"].values()} & MOTO_UNSUPPORTED
    assert template["Outputs"]["FunctionUrl"] == {"Value": "http://127.0.0.1:1"}
    env = template["Resources"]["WorkersFunction"]["Properties"]["Environment"]["Variables"]
    assert env["REDIS_URL"] == "moto-placeholder"
    assert json.dumps(template)  # serialisable for create_stack


def test_the_data_buckets_settings_are_accepted_by_s3_and_read_back(deployed: Deployed) -> None:
    """moto's CloudFormation ignores most bucket properties: apply the template's own through the S3 API."""
    props = load_template(STACK_TEMPLATE)["Resources"]["DataBucket"]["Properties"]
    s3 = deployed.world.client("s3")
    bucket = deployed.outputs["DataBucketName"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
    )
    rules = []
    for rule in props["LifecycleConfiguration"]["Rules"]:
        api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": rule["ExpirationInDays"]}
        rules.append(api)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    read_back = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    by_id = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert (
        read_back["noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"]
        == (by_id["noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"])
    )
    assert (
        read_back["abort-multipart"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        == (by_id["abort-multipart"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
    )
    assert read_back["exports"]["Expiration"]["Days"] == by_id["exports"]["ExpirationInDays"]


# --- The deploy's stack phase (ops.deploy.deploy_stack) against the Stubber ---------------------------------

VERSIONS = EngineVersions(database="17.6", cache="8.2")
PARAMETER_KEYS = ("DatabaseDeletionProtection", "DatabaseEngineVersion", "CacheEngineVersion", "ReservedConcurrency")


def _context(client: Any, out: io.StringIO, *, confirm: bool = True) -> Context:
    plan = OpsPlan.load()
    env = OpsEnv.from_environ(plan, {"AWS_REGION": plan.region, "STACK_NAME": NAME})
    clients = Clients.for_region(plan.region)
    clients.cloudformation = client
    hooks = Hooks(confirm=lambda prompt: confirm, stack_poll_seconds=0, sleep=lambda seconds: None)
    return Context(plan, env, clients, Console(out=out), hooks, template_path=STACK_TEMPLATE)


def _findings(plan: OpsPlan) -> Findings:
    return Findings(
        account="123456789012", versions=VERSIONS, concurrency=decide(plan.reserved_concurrency, 1000, 1000, 0)
    )


def _described(status: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    stacks = _stack(status)
    if parameters is not None:
        stacks["Stacks"][0]["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    return stacks


def _missing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {NAME} does not exist",
        expected_params={"StackName": NAME},
    )


def _value(key: str, value: str) -> dict[str, Any]:
    return {"ParameterKey": key, "ParameterValue": value}


def _previous(key: str) -> dict[str, Any]:
    return {"ParameterKey": key, "UsePreviousValue": True}


def _change_set_applied(
    stubber: Stubber, change_type: str, parameters: list[dict[str, Any]], final: str, *, changes: bool = True
) -> None:
    """create_change_set with exactly these parameters, then (with changes) execute and wait for `final`."""
    stubber.add_response(
        "create_change_set",
        {"Id": "cs", "StackId": STACK_ID},
        {
            "StackName": NAME,
            "ChangeSetName": ANY,
            "ChangeSetType": change_type,
            "TemplateBody": ANY,
            "Parameters": parameters,
            "Capabilities": CAPABILITIES,
            "Description": "betagen deploy",
        },
    )
    if not changes:
        described = {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."}
        stubber.add_response("describe_change_set", {**described, "Changes": []})
        stubber.add_response("delete_change_set", {})
        stubber.add_response("describe_stacks", _described(final), {"StackName": NAME})
        return
    change = {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": "Database"}}
    stubber.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [change]})
    stubber.add_response("execute_change_set", {})
    stubber.add_response("describe_stacks", _described(final), {"StackName": NAME})
    stubber.add_response("describe_stack_events", _events((NAME, final, "")), {"StackName": NAME})


def _first_create(stubber: Stubber, plan: OpsPlan) -> None:
    """The stack does not exist: a CREATE without deletion protection, then the protect step."""
    _missing(stubber)  # create_change_set reads the status itself
    _change_set_applied(
        stubber,
        "CREATE",
        [
            _value("DatabaseDeletionProtection", "false"),
            _value("DatabaseEngineVersion", VERSIONS.database),
            _value("CacheEngineVersion", VERSIONS.cache),
            _value("ReservedConcurrency", str(plan.reserved_concurrency)),
        ],
        "CREATE_COMPLETE",
    )
    stubber.add_response("describe_stacks", _described("CREATE_COMPLETE"), {"StackName": NAME})
    _change_set_applied(
        stubber,
        "UPDATE",
        [
            _value("DatabaseDeletionProtection", "true"),
            _previous("DatabaseEngineVersion"),
            _previous("CacheEngineVersion"),
            _previous("ReservedConcurrency"),
        ],
        "UPDATE_COMPLETE",
    )


def test_a_first_create_has_no_deletion_protection_then_the_protect_step_turns_it_on(stubbed: Any) -> None:
    client, stubber = stubbed
    out = io.StringIO()
    ctx = _context(client, out)
    _missing(stubber)  # the state check before anything
    _first_create(stubber, ctx.plan)
    assert deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=True, dry_run=False) is True
    text = out.getvalue()
    assert text.index("==> stack:") < text.index("==> protect:")
    assert "parameters: DatabaseDeletionProtection=false, DatabaseEngineVersion=17.6, CacheEngineVersion=8.2" in text
    assert "parameters: DatabaseDeletionProtection=true, DatabaseEngineVersion=(previous)" in text


def test_an_update_keeps_the_running_engine_versions(stubbed: Any) -> None:
    client, stubber = stubbed
    out = io.StringIO()
    ctx = _context(client, out)
    running = {"DatabaseDeletionProtection": "true", "DatabaseEngineVersion": "17.2", "CacheEngineVersion": "8.0"}
    running["ReservedConcurrency"] = "0"
    for _ in range(3):  # the state check, the parameters the stack has, create_change_set's own read
        stubber.add_response("describe_stacks", _described("UPDATE_COMPLETE", running), {"StackName": NAME})
    update = [
        _value("DatabaseDeletionProtection", "true"),
        _previous("DatabaseEngineVersion"),
        _previous("CacheEngineVersion"),
        _value("ReservedConcurrency", str(ctx.plan.reserved_concurrency)),
    ]
    _change_set_applied(stubber, "UPDATE", update, "UPDATE_COMPLETE", changes=False)
    assert deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=True, dry_run=False) is True
    assert "==> protect:" not in out.getvalue()  # only after a first create


def test_an_update_of_a_stack_without_the_parameters_gives_the_resolved_versions(stubbed: Any) -> None:
    # A stack deployed before the template had parameters: UsePreviousValue would be refused for them.
    client, stubber = stubbed
    ctx = _context(client, io.StringIO())
    for _ in range(3):
        stubber.add_response("describe_stacks", _described("UPDATE_COMPLETE", {}), {"StackName": NAME})
    update = [
        _value("DatabaseDeletionProtection", "true"),
        _value("DatabaseEngineVersion", VERSIONS.database),
        _value("CacheEngineVersion", VERSIONS.cache),
        _value("ReservedConcurrency", str(ctx.plan.reserved_concurrency)),
    ]
    _change_set_applied(stubber, "UPDATE", update, "UPDATE_COMPLETE", changes=False)
    assert deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=True, dry_run=False) is True


FAILED_CREATE = (
    (NAME, "ROLLBACK_COMPLETE", ""),
    ("Cache", "CREATE_FAILED", "Resource creation cancelled"),
    ("Database", "CREATE_FAILED", "Cannot find version 17.1 for postgres (Service: Rds, Status Code: 400)"),
    ("Vpc", "CREATE_COMPLETE", ""),
)


def test_an_empty_failed_create_is_explained_deleted_and_created_again_with_yes(stubbed: Any) -> None:
    client, stubber = stubbed
    out = io.StringIO()
    ctx = _context(client, out)
    stubber.add_response("describe_stacks", _described("ROLLBACK_COMPLETE"), {"StackName": NAME})
    stubber.add_response("describe_stack_events", _events(*FAILED_CREATE), {"StackName": NAME})
    stubber.add_response("delete_stack", {}, {"StackName": NAME})
    stubber.add_response("describe_stacks", _described("DELETE_IN_PROGRESS"), {"StackName": NAME})
    _missing(stubber)  # deleted
    _first_create(stubber, ctx.plan)
    assert deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=True, dry_run=False) is True
    text = out.getvalue()
    # Why the first create failed: the root cause, not CloudFormation cancelling the rest.
    assert f"stack {NAME} is ROLLBACK_COMPLETE: its first create failed: Database: Cannot find version 17.1" in text
    assert "waiting: DELETE_IN_PROGRESS" in text
    assert text.index("==> delete:") < text.index("==> stack:") < text.index("==> protect:")


def test_an_empty_failed_create_is_left_alone_when_not_confirmed(stubbed: Any) -> None:
    client, stubber = stubbed
    ctx = _context(client, io.StringIO(), confirm=False)
    stubber.add_response("describe_stacks", _described("ROLLBACK_COMPLETE"), {"StackName": NAME})
    stubber.add_response("describe_stack_events", _events(*FAILED_CREATE), {"StackName": NAME})
    with pytest.raises(NotConfirmedError, match="stays ROLLBACK_COMPLETE"):
        deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=False, dry_run=False)


def _undeletable(*events: tuple[str, str, str, str, str]) -> dict[str, Any]:
    """Events with type and physical id: (logical, status, reason, type, physical), newest first."""
    listed = _events(*((logical, status, reason) for logical, status, reason, _, _ in events))
    for event, (_, _, _, kind, physical) in zip(listed["StackEvents"], events, strict=True):
        event["ResourceType"], event["PhysicalResourceId"] = kind, physical
    return listed


STUCK_EVENTS = (
    (
        NAME,
        "ROLLBACK_FAILED",
        "The following resource(s) failed to delete: [Database, WorkersSecurityGroup].",
        "AWS::CloudFormation::Stack",
        STACK_ID,
    ),
    (
        "Database",
        "DELETE_FAILED",
        "Cannot delete protected DB Instance, please disable deletion protection and try again.",
        "AWS::RDS::DBInstance",
        f"{NAME}-db",
    ),
    (
        "WorkersSecurityGroup",
        "DELETE_FAILED",
        "resource sg-0abc has a dependent object",
        "AWS::EC2::SecurityGroup",
        "sg-0abc",
    ),
    ("DataBucket", "DELETE_COMPLETE", "", "AWS::S3::Bucket", f"{NAME}-data"),
    ("Database", "CREATE_COMPLETE", "", "AWS::RDS::DBInstance", f"{NAME}-db"),
)


@pytest.mark.parametrize("status", ["ROLLBACK_FAILED", "DELETE_FAILED"])
def test_a_stuck_stack_prints_the_recovery_commands_and_attempts_nothing(stubbed: Any, status: str) -> None:
    client, stubber = stubbed
    out = io.StringIO()
    ctx = _context(client, out)
    stubber.add_response("describe_stacks", _described(status), {"StackName": NAME})
    stubber.add_response("describe_stack_events", _undeletable(*STUCK_EVENTS), {"StackName": NAME})
    # Nothing else is stubbed: any further call (a change set, a delete) would fail the test.
    with pytest.raises(StackStuckError) as stuck:
        deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=True, dry_run=False)
    error = stuck.value
    assert error.exit_code == 3
    assert error.resources == ["Database", "WorkersSecurityGroup"]
    expected = [
        f"aws rds modify-db-instance --db-instance-identifier {NAME}-db --no-deletion-protection --apply-immediately"
        " --region us-east-1",
        f"aws cloudformation delete-stack --stack-name {NAME} --region us-east-1",
        f"aws cloudformation wait stack-delete-complete --stack-name {NAME} --region us-east-1",
    ]
    assert error.commands[:3] == expected
    force = f"aws cloudformation delete-stack --stack-name {NAME} --deletion-mode FORCE_DELETE_STACK --region us-east-1"
    assert any(c.startswith(force) for c in error.commands) == (status == "DELETE_FAILED")
    text = out.getvalue()
    assert "not deleted: Database (AWS::RDS::DBInstance beta-db): Cannot delete protected DB Instance" in text
    assert "not deleted: WorkersSecurityGroup (AWS::EC2::SecurityGroup sg-0abc)" in text
    for command in error.commands:
        assert command in text
    assert "\n" not in str(error)  # the CLI prints it as one line
    assert str(error).startswith(
        f"stack {NAME} is {status}: CloudFormation could not delete Database, WorkersSecurityGroup"
    )


def test_a_stack_busy_with_another_operation_is_not_touched(stubbed: Any) -> None:
    client, stubber = stubbed
    ctx = _context(client, io.StringIO())
    stubber.add_response("describe_stacks", _described("UPDATE_IN_PROGRESS"), {"StackName": NAME})
    with pytest.raises(Exception, match="is UPDATE_IN_PROGRESS: wait until it finishes"):
        deploy_stack(ctx, Run(ctx.console), _findings(ctx.plan), yes=True, dry_run=False)
