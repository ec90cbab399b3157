"""The stack step. Change sets on an existing stack and rollbacks are what moto cannot emulate: those run
against botocore's Stubber, which checks every request and response against the real service model.
Stack creation runs on moto server, for the resource types its CloudFormation supports."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ops.console import Console
from ops.errors import StepFailedError
from ops.stack import Stack, StackError
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
    template = load_template(STACK_TEMPLATE)["Resources"]
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
    assert concurrency["ReservedConcurrentExecutions"] == fn_props["ReservedConcurrentExecutions"]

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
