"""E9002: reserved concurrency must be a parameter the deploy can set to "none", not a fixed number.

Lambda always keeps at least 100 concurrent executions unreserved in an account, and new accounts start with
a concurrency quota far below the default 1,000, so a fixed ReservedConcurrentExecutions can make the first
create fail on a new account. The value must be `!If [Condition, !Ref Parameter, !Ref AWS::NoValue]`, the
condition reading that parameter: the deploy checks the account's limits and passes 0 (no reservation)
when the plan's value cannot be spared. A bare `!Ref` would not do: a reservation of 0 stops the function.
Sources: AWS Lambda Developer Guide, "Configuring reserved concurrency",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html, and "Lambda quotas",
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (checked 2026-11-25).
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

NO_VALUE = {"Ref": "AWS::NoValue"}


def _mentions(node: Any, parameter: str) -> bool:
    if isinstance(node, dict):
        return node.get("Ref") == parameter or any(_mentions(value, parameter) for value in node.values())
    if isinstance(node, list):
        return any(_mentions(item, parameter) for item in node)
    return False


def _is_optional_parameter(value: Any, parameters: dict[str, Any], conditions: dict[str, Any]) -> bool:
    """`!If [Condition, !Ref Parameter, !Ref AWS::NoValue]` (either branch order), the condition on Parameter."""
    branches = value.get("Fn::If") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(branches, list) or len(branches) != 3 or NO_VALUE not in branches[1:]:
        return False
    condition, other = branches[0], next(b for b in branches[1:] if b != NO_VALUE)
    parameter = other.get("Ref") if isinstance(other, dict) else None
    return parameter in parameters and condition in conditions and _mentions(conditions[condition], str(parameter))


class ReservedConcurrencyIsAParameter(CloudFormationLintRule):
    id = "E9002"
    shortdesc = "ReservedConcurrentExecutions is a parameter the deploy can switch off"
    description = (
        "ReservedConcurrentExecutions must be !If [Condition, !Ref Parameter, !Ref AWS::NoValue]: Lambda keeps "
        "100 executions unreserved and new accounts have a low quota, so a fixed reservation can fail the create"
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"

    def match(self, cfn: Any) -> list[RuleMatch]:
        parameters = cfn.template.get("Parameters", {})
        conditions = cfn.template.get("Conditions", {})
        matches = []
        for name, function in cfn.get_resources(["AWS::Lambda::Function"]).items():
            props = function.get("Properties", {})
            if "ReservedConcurrentExecutions" not in props:
                continue
            if not _is_optional_parameter(props["ReservedConcurrentExecutions"], parameters, conditions):
                message = (
                    f"{name}: ReservedConcurrentExecutions must be !If [Condition, !Ref Parameter, !Ref AWS::NoValue] "
                    "(0 = no reservation): a fixed reservation fails the create on an account that cannot "
                    "keep 100 executions unreserved"
                )
                matches.append(RuleMatch(["Resources", name, "Properties", "ReservedConcurrentExecutions"], message))
        return matches
