"""E9001: a public Lambda function URL must be granted both invoke permissions.

Since October 2025 a new function URL with AuthType NONE answers only when the function's resource-based
policy allows both `lambda:InvokeFunctionUrl` (with `lambda:FunctionUrlAuthType` NONE) and
`lambda:InvokeFunction` (with `lambda:InvokedViaFunctionUrl` true: the `InvokedViaFunctionUrl` property of
AWS::Lambda::Permission); with the first alone every call gets 403. Both must name the URL's function and
qualifier, for Principal "*".
Source: AWS Lambda Developer Guide, "Control access to Lambda function URLs",
https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html (checked 2026-11-25).
"""

from __future__ import annotations

import re
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# "${Function.Arn}:qualifier" or "${Function}:qualifier" in an Fn::Sub.
_SUB = re.compile(r"^\$\{(?P<name>[A-Za-z0-9]+)(?:\.Arn)?\}(?::(?P<qualifier>[^:]+))?$")


def _named(value: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt (…Arn) points to."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, str):
            attribute = attribute.split(".", 1)
        if isinstance(attribute, list) and len(attribute) == 2 and attribute[1] == "Arn":
            return str(attribute[0])
    return None


def _target(value: Any, qualifier: Any, resources: dict[str, Any]) -> tuple[str, str | None] | None:
    """(function logical id, qualifier) named by a FunctionName / TargetFunctionArn, when it can be told."""
    name: str | None = None
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        found = _SUB.match(value["Fn::Sub"])
        if found:
            name, qualifier = found["name"], found["qualifier"] or qualifier
    else:
        name = _named(value)
    resource = resources.get(name or "")
    if not isinstance(resource, dict):
        return None
    if resource.get("Type") == "AWS::Lambda::Alias":
        properties = resource.get("Properties", {})
        function = _named(properties.get("FunctionName"))
        return (function, str(properties.get("Name"))) if function else None
    if resource.get("Type") == "AWS::Lambda::Function" and name:
        return name, str(qualifier) if isinstance(qualifier, str) else None
    return None


class FunctionUrlPermissions(CloudFormationLintRule):
    id = "E9001"
    shortdesc = "Public function URLs need InvokeFunctionUrl and InvokeFunction permissions"
    description = (
        "A Lambda::Url with AuthType NONE needs an AWS::Lambda::Permission for lambda:InvokeFunctionUrl "
        "(FunctionUrlAuthType NONE) and one for lambda:InvokeFunction (InvokedViaFunctionUrl true), "
        "Principal '*', on the same function and qualifier"
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"

    def match(self, cfn: Any) -> list[RuleMatch]:
        resources = cfn.template.get("Resources", {})
        granted: dict[tuple[str, str | None], set[str]] = {}
        for permission in cfn.get_resources(["AWS::Lambda::Permission"]).values():
            props = permission.get("Properties", {})
            target = _target(props.get("FunctionName"), None, resources)
            if target is None or props.get("Principal") != "*":
                continue
            action = str(props.get("Action", "")).lower()
            if action == "lambda:invokefunctionurl" and props.get("FunctionUrlAuthType") == "NONE":
                granted.setdefault(target, set()).add("lambda:InvokeFunctionUrl")
            via_url = props.get("InvokedViaFunctionUrl")
            if action == "lambda:invokefunction" and (via_url is True or str(via_url).lower() == "true"):
                granted.setdefault(target, set()).add("lambda:InvokeFunction")

        matches = []
        for name, url in cfn.get_resources(["AWS::Lambda::Url"]).items():
            props = url.get("Properties", {})
            if props.get("AuthType") != "NONE":
                continue
            target = _target(props.get("TargetFunctionArn"), props.get("Qualifier"), resources)
            shown = ":".join(part for part in target if part) if target else "its function"
            for action, how in (
                ("lambda:InvokeFunctionUrl", "FunctionUrlAuthType: NONE"),
                ("lambda:InvokeFunction", "InvokedViaFunctionUrl: true"),
            ):
                if target is None or action not in granted.get(target, set()):
                    message = (
                        f"Function URL {name} (AuthType NONE) has no AWS::Lambda::Permission granting {action} "
                        f'with {how} to Principal "*" on {shown}: every call is refused with 403'
                    )
                    matches.append(RuleMatch(["Resources", name], message))
        return matches
