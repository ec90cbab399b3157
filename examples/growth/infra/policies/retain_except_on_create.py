"""E9004: DeletionPolicy Retain must be RetainExceptOnCreate.

With Retain, a failed first create leaves the resource behind (an empty bucket nobody owns, which a retry
does not reuse). RetainExceptOnCreate keeps the resource on every stack operation except the one that
created it, so a rolled-back first create leaves nothing and later deletes still keep the data.
Source: AWS CloudFormation User Guide, "DeletionPolicy attribute" (RetainExceptOnCreate),
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
(checked 2026-11-25).
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch


class RetainExceptOnCreate(CloudFormationLintRule):
    id = "E9004"
    shortdesc = "DeletionPolicy Retain leaves orphans after a failed first create"
    description = "Use DeletionPolicy RetainExceptOnCreate instead of Retain, so a rolled-back create leaves nothing"
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html"

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for name, resource in cfn.get_resources().items():
            if resource.get("DeletionPolicy") == "Retain":
                message = (
                    f"{name}: DeletionPolicy Retain leaves the resource behind when the first create rolls back; "
                    "use RetainExceptOnCreate"
                )
                matches.append(RuleMatch(["Resources", name, "DeletionPolicy"], message))
        return matches
