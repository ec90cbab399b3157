"""E9005: database and cache engine versions must not pin a version AWS can withdraw.

AWS stops creating old versions while the stack still names them: RDS for PostgreSQL 17.1-17.4 could no
longer be created from 2026-05-01, so a template pinned to one fails its next create.
- AWS::RDS::DBInstance (postgres): EngineVersion is a major alone ("17": RDS creates that major's default
  minor and AutoMinorVersionUpgrade moves it), or a Ref to a parameter whose Default is a major alone.
- AWS::ElastiCache::ReplicationGroup (valkey, redis): ElastiCache's smallest unit is major.minor (it manages
  the patch level itself) and it has no major-only form for Valkey or Redis OSS 7+, so no literal is safe:
  EngineVersion is a Ref to a parameter, whose Default may be major.minor but no patch level. The deploy
  resolves such parameters from the region's orderable versions at create time.
Sources (checked 2026-11-25): Amazon RDS, "Upgrading a DB instance engine version"
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_UpgradeDBInstance.Upgrading.html) and the
AWS CDK's PostgresEngineVersion ("Version "17" (only a major version, without a specific minor version)",
https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_rds.PostgresEngineVersion.html); Amazon
ElastiCache, "Major engine version behavior and compatibility differences with Redis OSS" (one version per
minor release, patches managed by ElastiCache),
https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/VersionManagementConsiderations.html.
"""

from __future__ import annotations

import re
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

MAJOR = re.compile(r"^\d+$")
MAJOR_MINOR = re.compile(r"^\d+\.(\d+|x)$")


def _check(value: Any, parameters: dict[str, Any], *, literal_ok: bool, default_ok: re.Pattern[str]) -> str | None:
    """Why `value` pins a version, or None."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = parameters.get(value["Ref"])
        if not isinstance(parameter, dict):
            return f"!Ref {value['Ref']} is not a template parameter"
        default = parameter.get("Default")
        if default is not None and not default_ok.match(str(default)):
            return f"parameter {value['Ref']} defaults to {default!r}, which pins a version AWS can withdraw"
        return None
    if literal_ok and isinstance(value, str | int) and MAJOR.match(str(value)):
        return None
    return f"{value!r} is typed into the template and pins a version AWS can withdraw"


class EngineVersionsFollowTheRegion(CloudFormationLintRule):
    id = "E9005"
    shortdesc = "Engine versions do not pin a withdrawable version"
    description = (
        "RDS PostgreSQL EngineVersion is a major alone or a parameter defaulting to one; ElastiCache EngineVersion "
        "is a parameter defaulting to major.minor at most"
    )
    source_url = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_UpgradeDBInstance.Upgrading.html"

    def match(self, cfn: Any) -> list[RuleMatch]:
        parameters = cfn.template.get("Parameters", {})
        matches = []
        for name, database in cfn.get_resources(["AWS::RDS::DBInstance"]).items():
            props = database.get("Properties", {})
            if props.get("Engine") != "postgres" or "EngineVersion" not in props:
                continue
            why = _check(props["EngineVersion"], parameters, literal_ok=True, default_ok=MAJOR)
            if why:
                message = f"{name}: EngineVersion {why}; use a major alone (RDS picks its default minor)"
                matches.append(RuleMatch(["Resources", name, "Properties", "EngineVersion"], message))
        for name, cache in cfn.get_resources(["AWS::ElastiCache::ReplicationGroup"]).items():
            props = cache.get("Properties", {})
            if props.get("Engine", "redis") not in ("valkey", "redis") or "EngineVersion" not in props:
                continue
            why = _check(props["EngineVersion"], parameters, literal_ok=False, default_ok=MAJOR_MINOR)
            if why:
                message = f"{name}: EngineVersion {why}; use a parameter the deploy resolves at create time"
                matches.append(RuleMatch(["Resources", name, "Properties", "EngineVersion"], message))
        return matches
