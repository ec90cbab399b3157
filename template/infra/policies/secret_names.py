"""W9006: a Secrets Manager secret must not have a fixed Name.

CloudFormation deletes a stack's secret without a recovery window, but Secrets Manager still deletes it
asynchronously: creating a secret under the same name right after the delete can fail with "You can't
create this secret because a secret with this name is already scheduled for deletion". A fixed Name makes
the create that follows a rolled-back first create (same stack name, same secret name) race that deletion.
Without a Name, CloudFormation generates a unique one; the deploy finds the secret through an output.
Sources (checked 2026-11-25): AWS Secrets Manager API Reference, "DeleteSecret" (ForceDeleteWithoutRecovery:
"an asynchronous background process ... If you delete a secret and then immediately create a secret with the
same name, use appropriate back off and retry logic"),
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html, and
aws-cloudformation/cloudformation-coverage-roadmap#1999 (CloudFormation force-deletes
AWS::SecretsManager::Secret), https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1999.
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch


class SecretsHaveGeneratedNames(CloudFormationLintRule):
    id = "W9006"
    shortdesc = "Secrets Manager secrets have generated names"
    description = "A fixed secret Name can collide with its own pending deletion when the stack is created again"
    source_url = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html"

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for name, secret in cfn.get_resources(["AWS::SecretsManager::Secret"]).items():
            if "Name" in secret.get("Properties", {}):
                message = (
                    f"{name}: a fixed Name can collide with the same secret's pending deletion when the stack is "
                    "created again after a rollback; leave Name out and read the secret's ARN from an output"
                )
                matches.append(RuleMatch(["Resources", name, "Properties", "Name"], message))
        return matches
