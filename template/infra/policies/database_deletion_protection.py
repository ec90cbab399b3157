"""E9003: database deletion protection must not be a literal true.

A failed first create rolls back by deleting what it created; an RDS instance created with deletion
protection cannot be deleted, so the stack ends in ROLLBACK_FAILED with the instance left behind (and must
be cleaned up by hand). DeletionProtection must be a parameter: the deploy passes "false" for the first
create and turns protection on with an update once the create has succeeded.
Sources: AWS CloudFormation User Guide, "AWS::RDS::DBInstance" (DeletionProtection: "the database can't be
deleted when deletion protection is enabled"),
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html,
and Amazon RDS User Guide, "Deleting a DB instance" (deletion protection),
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html (checked 2026-11-25).
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch


class DeletionProtectionIsAParameter(CloudFormationLintRule):
    id = "E9003"
    shortdesc = "Database DeletionProtection is not a literal true"
    description = (
        "A literal DeletionProtection: true on a database blocks the rollback of a failed first create "
        "(ROLLBACK_FAILED); make it a parameter the deploy turns on after the create"
    )
    source_url = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html"

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for name, database in cfn.get_resources(["AWS::RDS::DBInstance", "AWS::RDS::DBCluster"]).items():
            value = database.get("Properties", {}).get("DeletionProtection")
            if value is True or (isinstance(value, str) and value.lower() == "true"):
                message = (
                    f"{name}: DeletionProtection is a literal true, which makes a failed first create end in "
                    "ROLLBACK_FAILED; use a parameter the deploy sets to false for the first create"
                )
                matches.append(RuleMatch(["Resources", name, "Properties", "DeletionProtection"], message))
        return matches
