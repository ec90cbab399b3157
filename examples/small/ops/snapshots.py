"""The manual RDS snapshots the deploy takes before migrating (`<slug>-predeploy-<UTC time>`), and their pruning.

RDS never deletes a manual snapshot, and manual snapshots count against a per-region quota (100 by default:
"Quotas and constraints for Amazon RDS", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html,
read 2026-11-25): a deploy a day would exhaust it in about three months, and every deploy after that would
fail at its snapshot. So the deploy keeps the newest of its own snapshots of this instance (the plan's
`predeploy_snapshots_kept`) and deletes the older ones. Anything else (automated snapshots, snapshots someone
took by hand, another instance's or another project's) is never touched.
"""

from __future__ import annotations

import re
import time
from typing import Any

_TIME_FORMAT = "%Y%m%d-%H%M%S"
_TIME_SUFFIX = re.compile(r"\d{8}-\d{6}")


def predeploy_prefix(slug: str) -> str:
    return f"{slug}-predeploy-"


def predeploy_identifier(slug: str, at: time.struct_time) -> str:
    """The snapshot's name: the UTC time it was taken, so names sort by age."""
    return predeploy_prefix(slug) + time.strftime(_TIME_FORMAT, at)


def is_predeploy(identifier: str, slug: str) -> bool:
    prefix = predeploy_prefix(slug)
    return identifier.startswith(prefix) and _TIME_SUFFIX.fullmatch(identifier[len(prefix) :]) is not None


def prune_predeploy_snapshots(rds: Any, instance_id: str, slug: str, keep: int) -> list[str]:
    """Deletes this instance's pre-deploy snapshots beyond the newest `keep`; returns the deleted names."""
    if keep < 1:
        raise ValueError(f"predeploy_snapshots_kept must be at least 1 (got {keep})")
    ours: list[dict[str, Any]] = []
    pages = rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=instance_id, SnapshotType="manual")
    for page in pages:
        ours += [s for s in page["DBSnapshots"] if is_predeploy(s["DBSnapshotIdentifier"], slug)]
    ours.sort(key=lambda s: str(s["DBSnapshotIdentifier"]), reverse=True)
    deleted: list[str] = []
    for snapshot in ours[keep:]:
        identifier = str(snapshot["DBSnapshotIdentifier"])
        if snapshot.get("Status") != "available":
            continue  # still being created or copied: a later deploy deletes it
        try:
            rds.delete_db_snapshot(DBSnapshotIdentifier=identifier)
        except (rds.exceptions.DBSnapshotNotFoundFault, rds.exceptions.InvalidDBSnapshotStateFault):
            continue  # gone already, or in use (a restore from it): not ours to force
        deleted.append(identifier)
    return deleted
