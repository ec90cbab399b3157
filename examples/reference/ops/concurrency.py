"""How much reserved concurrency the account can give the workers.

Lambda keeps at least 100 concurrent executions of the account unreserved: "You can reserve up to the
Unreserved account concurrency value minus 100" ("Configuring reserved concurrency for a function",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html, read 2026-11-25). New accounts
start with a reduced concurrency quota ("Lambda quotas",
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, read 2026-11-25), so the plan's
reservation can make the stack fail. Then the stack gets none (parameter ReservedConcurrency=0) and QStash
flow control bounds the parallelism; the quota to raise is Service Quotas -> AWS Lambda -> "Concurrent
executions", quota code L-B99A9384 (the code the Service Quotas console and
`aws service-quotas request-service-quota-increase --service-code lambda` use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

MIN_UNRESERVED = 100
QUOTA_NAME = "Concurrent executions"
QUOTA_CODE = "L-B99A9384"


@dataclass(frozen=True)
class Concurrency:
    planned: int  # the plan's reservation for the workers function
    reserved: int  # what the stack gets (0: none)
    limit: int  # the account's concurrent executions in the region
    unreserved: int  # of which not reserved by any function
    current: int  # the workers function's own reservation now (it counts as available to it)

    @property
    def reduced(self) -> bool:
        return self.reserved < self.planned

    @property
    def quota_needed(self) -> int:
        """The account quota at which the plan's reservation leaves Lambda its 100 unreserved."""
        reserved_by_others = max(0, self.limit - self.unreserved - self.current)
        return self.planned + MIN_UNRESERVED + reserved_by_others

    def describe(self, region: str) -> str:
        if not self.reduced:
            return (
                f"reserving {self.reserved} of the account's {self.limit} concurrent executions in {region}"
                f" ({self.unreserved + self.current - self.reserved} stay unreserved)"
            )
        return (
            f"the account allows {self.limit} concurrent executions in {region} ({self.unreserved} unreserved);"
            f" reserving the plan's {self.planned} would leave fewer than the {MIN_UNRESERVED} Lambda keeps"
            " unreserved, so the workers deploy WITHOUT reserved concurrency (QStash flow control still bounds"
            f" their parallelism). To reserve it, request '{QUOTA_NAME}' (quota code {QUOTA_CODE}) of at least"
            f" {self.quota_needed} in Service Quotas -> AWS Lambda, region {region}, then deploy again"
        )


def decide(planned: int, limit: int, unreserved: int, current: int) -> Concurrency:
    available = unreserved + current
    fits = planned == 0 or available - planned >= MIN_UNRESERVED
    return Concurrency(planned, planned if fits else 0, limit, unreserved, current)


def account_concurrency(lambda_client: Any, function_name: str, planned: int) -> Concurrency:
    """Read the account's limits (and the function's own reservation, when it exists) and decide."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    try:
        current = int(
            lambda_client.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions", 0)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        current = 0  # first deploy: the function does not exist yet
    return decide(planned, int(limits["ConcurrentExecutions"]), int(limits["UnreservedConcurrentExecutions"]), current)
