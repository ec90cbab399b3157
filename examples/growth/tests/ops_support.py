"""Helpers for the ops tests: moto's view of the rendered stack, a /health stand-in, a moto-backed world.

AWS is moto's server on 127.0.0.1 (the session's, reset before every test by conftest.clean_state);
boto3 reaches it through AWS_ENDPOINT_URL, so the ops code runs unchanged. What moto cannot emulate
(ElastiCache, Secrets Manager, alarms and Budgets inside CloudFormation; stack updates) is either created
directly through its API here or tested with botocore's Stubber elsewhere. The account and region facts
moto has no API for (Lambda's account settings, RDS engine versions and orderable classes, ElastiCache
engine versions and node offerings) are answered by `AccountFacts` through the Stubber, which checks each
request and response against the real service model.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.stub import Stubber

from ops.aws import Clients
from ops.config import OpsEnv, OpsPlan
from ops.console import Console
from tests.helpers import Services

REPO = Path(__file__).resolve().parent.parent
STACK_TEMPLATE = REPO / "infra" / "stack.yaml"
ACCOUNT_ID = "123456789012"  # moto's default account
DB_USER = "app"
DB_PASSWORD = "moto-only-password"  # a moto fixture value, never a real secret
CACHE_AUTH_TOKEN = "moto-only-cache-auth-token"  # likewise

# What moto's CloudFormation cannot create: created through their own APIs, or left to cfn-lint.
MOTO_UNSUPPORTED = {
    "AWS::EC2::SecurityGroupEgress",
    "AWS::ElastiCache::SubnetGroup",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Budgets::Budget",
    "AWS::Lambda::Url",
    "AWS::Lambda::Permission",
}
UNSUPPORTED_ATTRIBUTES = {("Database", "MasterUserSecret.SecretArn")}


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !GetAtt, !Sub ...) as their long JSON forms."""


def _cfn_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = STACK_TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    return loaded


def _references(node: Any, dropped: set[str]) -> bool:
    if isinstance(node, dict):
        if "Ref" in node and node["Ref"] in dropped:
            return True
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            if resource in dropped or (resource, attribute) in UNSUPPORTED_ATTRIBUTES:
                return True
        if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            if any(f"${{{name}" in text for name in dropped) or "${Database.MasterUserSecret" in text:
                return True
        return any(_references(value, dropped) for value in node.values())
    if isinstance(node, list):
        return any(_references(item, dropped) for item in node)
    return False


def _replace(
    node: Any, dropped: set[str], literals: dict[tuple[str, str], str], refs: dict[str, str] | None = None
) -> Any:
    refs = refs or {}
    if isinstance(node, dict):
        if "Fn::GetAtt" in node and tuple(node["Fn::GetAtt"]) in literals:
            return literals[tuple(node["Fn::GetAtt"])]  # type: ignore[index]
        if set(node) == {"Ref"} and node["Ref"] in refs:
            return refs[node["Ref"]]
        if {"Ref", "Fn::GetAtt", "Fn::Sub"} & set(node) and _references(node, dropped):
            return "moto-placeholder"
        return {key: _replace(value, dropped, literals, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace(item, dropped, literals, refs) for item in node]
    return node


def moto_template(
    template: dict[str, Any],
    literal_outputs: dict[str, str],
    literal_attributes: dict[tuple[str, str], str] | None = None,
    literal_refs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The rendered stack restricted to what moto's CloudFormation creates; outputs of the rest are literals,
    and so are the attributes moto cannot give (`literal_attributes`, e.g. the database secret's ARN) and the
    references to resources created outside it (`literal_refs`, e.g. the secrets' ARNs)."""
    resources = template["Resources"]
    dropped = {name for name, res in resources.items() if res["Type"] in MOTO_UNSUPPORTED}
    literals = literal_attributes or {}
    kept: dict[str, Any] = {}
    for name, resource in resources.items():
        if name in dropped:
            continue
        resource = _replace(resource, dropped, literals, literal_refs)
        depends = resource.get("DependsOn")
        if depends is not None:
            remaining = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in dropped]
            if remaining:
                resource["DependsOn"] = remaining
            else:
                del resource["DependsOn"]
        kept[name] = resource
    outputs = {
        key: ({"Value": literal_outputs[key]} if key in literal_outputs else output)
        for key, output in template["Outputs"].items()
        if key in literal_outputs or not _references(output, dropped)
    }
    return {**template, "Resources": kept, "Outputs": outputs}


@dataclass
class HealthServer:
    """A loopback stand-in for the Function URL's /health, whose answer a test can change."""

    status: int = 200
    calls: int = 0
    url: str = ""
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def start(self) -> HealthServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.calls += 1
                ok = owner.status == 200
                body = json.dumps({"ok": ok, "checks": {"database": {"ok": ok}, "cache": {"ok": True}}}).encode()
                self.send_response(owner.status if self.path == "/health" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def tiny_package(marker: str = "v1") -> bytes:
    """A small but real zip standing in for the packaged app (moto stores it; nothing invokes it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/__init__.py", f"RELEASE = {marker!r}\n")
    return buffer.getvalue()


@dataclass
class OpsWorld:
    """One test's AWS (moto) and QStash (stand-in) world, and how to build the ops objects against it."""

    services: Services
    plan: OpsPlan
    environ: dict[str, str]
    health: HealthServer
    out: io.StringIO = field(default_factory=io.StringIO)

    def client(self, name: str) -> Any:
        region = "us-east-1" if name == "budgets" else self.plan.region
        return boto3.client(name, region_name=region)  # type: ignore[call-overload]

    def env(self) -> OpsEnv:
        return OpsEnv.from_environ(self.plan, self.environ)

    def console(self) -> Console:
        return Console(out=self.out)

    @property
    def output(self) -> str:
        return self.out.getvalue()


class ChangeSetlessCloudFormation:
    """moto's CloudFormation, except change sets on an existing stack, which moto cannot compute.

    Those three calls answer "no changes" in the service's own shape; the change-set paths themselves are
    tested against the real service model with botocore's Stubber (test_ops_stack.py).
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self.change_sets: list[str] = []
        self.requests: list[dict[str, Any]] = []  # every create_change_set call, as sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def create_change_set(self, **kwargs: Any) -> dict[str, Any]:
        self.change_sets.append(kwargs["ChangeSetName"])
        self.requests.append(kwargs)
        return {"Id": f"arn:aws:cloudformation:::changeSet/{kwargs['ChangeSetName']}", "StackId": "moto"}

    def describe_change_set(self, **kwargs: Any) -> dict[str, Any]:
        reason = "The submitted information didn't contain changes."
        return {"Status": "FAILED", "StatusReason": reason, "Changes": []}

    def delete_change_set(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def parameters(self) -> dict[str, str | bool]:
        """The last change set's parameters: a value, or True for UsePreviousValue."""
        return {
            p["ParameterKey"]: True if p.get("UsePreviousValue") else p["ParameterValue"]
            for p in self.requests[-1]["Parameters"]
        }


class Routed:
    """A moto-backed client, except for the operations moto lacks: a Stubber-checked client answers those."""

    def __init__(self, real: Any, stubbed: Any, operations: set[str]) -> None:
        self._real = real
        self._stubbed = stubbed
        self._operations = operations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in self._operations else self._real, name)


@dataclass
class AccountFacts:
    """The account and region as one preflight sees them, for the calls moto has no API for.

    `for_preflight(plan)` returns stubbed lambda, rds and elasticache clients holding exactly the answers of
    one full preflight (the Stubber rejects any other call, or the same call with other parameters).
    """

    limit: int = 1000
    unreserved: int = 1000
    database_version: str = "17.6"
    class_offered: bool = True
    node_offered: bool = True
    # The region's cache versions, relative to the plan's major M: an older and a newer major around M.0,
    # M.1.1 and M.2 (so the newest of M is M.2, given as major.minor).
    cache_minors: tuple[str, ...] = ("0", "1.1", "2")

    def cache_versions(self, major: str) -> list[str]:
        return [f"{int(major) - 1}.2.6", *(f"{major}.{minor}" for minor in self.cache_minors), f"{int(major) + 1}.0"]

    def expected_cache_version(self, major: str) -> str:
        return f"{major}.2"

    def for_preflight(self, plan: OpsPlan) -> tuple[Any, Any, Any]:
        def stubbed(name: str) -> tuple[Any, Stubber]:
            client = boto3.client(  # type: ignore[call-overload]
                name, region_name=plan.region, aws_access_key_id="stub", aws_secret_access_key="stub"
            )
            stubber = Stubber(client)
            stubber.activate()
            return client, stubber

        lam, lam_stub = stubbed("lambda")
        lam_stub.add_response(
            "get_account_settings",
            {
                "AccountLimit": {
                    "TotalCodeSize": 80_530_636_800,
                    "CodeSizeUnzipped": 262_144_000,
                    "CodeSizeZipped": 52_428_800,
                    "ConcurrentExecutions": self.limit,
                    "UnreservedConcurrentExecutions": self.unreserved,
                },
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
            },
            {},
        )
        db = plan.database
        rds, rds_stub = stubbed("rds")
        rds_stub.add_response(
            "describe_db_engine_versions",
            {"DBEngineVersions": [{"Engine": db.engine, "EngineVersion": self.database_version}]},
            {"Engine": db.engine, "EngineVersion": db.engine_version, "DefaultOnly": True},
        )
        option = {"Engine": db.engine, "EngineVersion": self.database_version, "DBInstanceClass": db.instance_class}
        rds_stub.add_response(
            "describe_orderable_db_instance_options",
            {"OrderableDBInstanceOptions": [{**option, "StorageType": "gp3"}] if self.class_offered else []},
            option,
        )
        cache = plan.cache
        elasticache, cache_stub = stubbed("elasticache")
        cache_stub.add_response(
            "describe_cache_engine_versions",
            {
                "CacheEngineVersions": [
                    {"Engine": cache.engine, "EngineVersion": version} for version in self.cache_versions(cache.major)
                ]
            },
            {"Engine": cache.engine},
        )
        offering = {
            "ReservedCacheNodesOfferingId": "offering-1",
            "CacheNodeType": cache.node_type,
            "Duration": 31_536_000,
            "ProductDescription": cache.engine,
            "OfferingType": "No Upfront",
        }
        cache_stub.add_response(
            "describe_reserved_cache_nodes_offerings",
            {"ReservedCacheNodesOfferings": [offering] if self.node_offered else []},
            {"CacheNodeType": cache.node_type, "MaxRecords": 20},
        )
        return lam, rds, elasticache

    def wire(self, clients: Clients, plan: OpsPlan) -> Clients:
        """Clients whose lambda and rds are moto except for the facts, and whose elasticache is the facts'."""
        lam, rds, elasticache = self.for_preflight(plan)
        clients.lambda_ = Routed(clients.lambda_, lam, {"get_account_settings"})
        clients.rds = Routed(
            clients.rds, rds, {"describe_db_engine_versions", "describe_orderable_db_instance_options"}
        )
        clients.elasticache = elasticache
        return clients


@dataclass
class Deployed:
    """A stack created on moto from the rendered template, plus what moto's CloudFormation skips."""

    world: OpsWorld
    outputs: dict[str, str]
    cloudformation: ChangeSetlessCloudFormation


def create_moto_stack(world: OpsWorld, tmp_path: Path) -> Deployed:
    plan = world.plan
    sm = world.client("secretsmanager")
    db_secret = sm.create_secret(
        Name=f"rds!{plan.slug}-db", SecretString=json.dumps({"username": DB_USER, "password": DB_PASSWORD})
    )["ARN"]
    app_secret = sm.create_secret(Name=f"{plan.slug}/app", SecretString=json.dumps({"bootstrap": "true"}))["ARN"]
    cache_secret = sm.create_secret(Name=f"{plan.slug}/cache-auth", SecretString=CACHE_AUTH_TOKEN)["ARN"]
    literals = {
        "DatabaseSecretArn": db_secret,
        "AppSecretArn": app_secret,
        "CacheAuthSecretArn": cache_secret,
        "FunctionUrl": world.health.url,
        "BudgetName": plan.budget.name,
    }
    # The secret RDS would create for the instance: the functions' DATABASE_SECRET_ARN names this one.
    template = moto_template(
        load_template(),
        literals,
        {("Database", "MasterUserSecret.SecretArn"): db_secret},
        {"AppSecret": app_secret, "CacheAuthSecret": cache_secret},
    )
    # moto's CloudFormation has no AWS::Lambda::Alias: the release step creates `live` when it is missing.
    template["Resources"].pop("LiveAlias")
    cfn = world.client("cloudformation")
    cfn.create_stack(StackName=plan.stack_name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    outputs = {
        o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=plan.stack_name)["Stacks"][0]["Outputs"]
    }
    # Alarms and the budget, as the template declares them (moto's CloudFormation skips both).
    cloudwatch = world.client("cloudwatch")
    for name in plan.alarm_names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[outputs["AlertsTopicArn"]],
        )
    world.client("budgets").create_budget(
        AccountId=ACCOUNT_ID,
        Budget={
            "BudgetName": plan.budget.name,
            "BudgetLimit": {"Amount": str(plan.budget.limit_usd), "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        NotificationsWithSubscribers=[
            {
                "Notification": {
                    "NotificationType": kind,
                    "ComparisonOperator": "GREATER_THAN",
                    "Threshold": float(pct),
                    "ThresholdType": "PERCENTAGE",
                },
                "Subscribers": [{"SubscriptionType": "SNS", "Address": outputs["AlertsTopicArn"]}],
            }
            for kind in ("ACTUAL", "FORECASTED")
            for pct in plan.budget.thresholds
        ],
    )
    (tmp_path / "stack.json").write_text(json.dumps(template), encoding="utf-8")
    return Deployed(world=world, outputs=outputs, cloudformation=ChangeSetlessCloudFormation(cfn))


@dataclass
class Recorder:
    """Migrations run locally against the session's PostgreSQL (on AWS they run in the cron Lambda)."""

    database_url: str
    fail_with: str | None = None
    overlays: list[dict[str, str]] = field(default_factory=list)

    def migrate(self, overlay: dict[str, str]) -> list[str]:
        from app.migrate import apply_migrations

        self.overlays.append(overlay)
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        return apply_migrations(self.database_url)

    def spend_rows(self) -> list[Any]:
        """The spend ledger read locally (on AWS the cron Lambda's `spend` task reads it)."""
        import psycopg

        from ops.spend_sources import ledger_rows

        with psycopg.connect(self.database_url) as conn:
            return ledger_rows(conn)


def cost_explorer_tag_status(status: str = "Inactive") -> Any:
    """A Cost Explorer client answering ListCostAllocationTags once (moto has no such API: Stubber instead)."""
    from ops.spend import SpendPlan

    key = SpendPlan.load().tag_key
    client = boto3.client(  # type: ignore[call-overload]
        "ce", region_name="us-east-1", aws_access_key_id="stub", aws_secret_access_key="stub"
    )
    stubber = Stubber(client)
    stubber.add_response(
        "list_cost_allocation_tags",
        {"CostAllocationTags": [{"TagKey": key, "Type": "UserDefined", "Status": status}]},
        {"TagKeys": [key], "Type": "UserDefined"},
    )
    stubber.activate()
    return client


def ops_context(
    deployed: Deployed,
    recorder: Recorder,
    *,
    package: bytes | None = None,
    confirm: bool = True,
    facts: AccountFacts | None = None,
) -> Any:
    from ops.deploy import Context, Hooks

    world = deployed.world
    clients = (facts or AccountFacts()).wire(Clients.for_region(world.plan.region), world.plan)
    clients.cloudformation = deployed.cloudformation
    hooks = Hooks(
        confirm=lambda prompt: confirm,
        package=lambda: package or tiny_package(),
        migrate=recorder.migrate,
        stack_poll_seconds=0.0,
        sleep=lambda seconds: None,
        spend_ledger=recorder.spend_rows,
        cost_explorer_meta=cost_explorer_tag_status(),
    )
    return Context(world.plan, world.env(), clients, world.console(), hooks, template_path=STACK_TEMPLATE)
