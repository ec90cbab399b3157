"""Pruning the deploy's pre-deploy snapshots on moto's RDS: the newest `predeploy_snapshots_kept` of this
instance stay, older ones go, and no other snapshot is touched."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from ops.config import OpsPlan
from ops.snapshots import is_predeploy, predeploy_identifier, prune_predeploy_snapshots
from tests.helpers import Services

PLAN = OpsPlan.load()
INSTANCE = f"{PLAN.slug}-db"
OTHER_INSTANCE = f"{PLAN.slug}-db-restored"
DAY = 86400
START = 1_790_000_000  # any fixed UTC time: names are built from it, not from the clock


@pytest.fixture
def rds(services: Services) -> Any:
    client = boto3.client("rds", endpoint_url=services.s3_endpoint, region_name=PLAN.region)
    for name in (INSTANCE, OTHER_INSTANCE):
        client.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            MasterUsername="app",
            MasterUserPassword="moto-only-password",
            AllocatedStorage=20,
        )
    return client


def _snapshot(rds: Any, identifier: str, instance: str = INSTANCE) -> str:
    rds.create_db_snapshot(DBSnapshotIdentifier=identifier, DBInstanceIdentifier=instance)
    return identifier


def _names(rds: Any) -> set[str]:
    pages = rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual")
    return {s["DBSnapshotIdentifier"] for page in pages for s in page["DBSnapshots"]}


def test_names_sort_by_age_and_only_ours_match() -> None:
    older = predeploy_identifier(PLAN.slug, time.gmtime(START))
    newer = predeploy_identifier(PLAN.slug, time.gmtime(START + 1))
    assert older < newer
    assert older == f"{PLAN.slug}-predeploy-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(START))}"
    assert is_predeploy(older, PLAN.slug)
    assert not is_predeploy(f"{PLAN.slug}-predeploy-keep-me", PLAN.slug)
    assert not is_predeploy(f"other-{older}", PLAN.slug)


def test_the_newest_are_kept_and_nothing_else_is_touched(rds: Any) -> None:
    keep = PLAN.predeploy_snapshots_kept
    ours = [_snapshot(rds, predeploy_identifier(PLAN.slug, time.gmtime(START + n * DAY))) for n in range(keep + 2)]
    foreign = {
        _snapshot(rds, "before-the-big-upgrade"),  # taken by hand
        _snapshot(rds, f"{PLAN.slug}-predeploy-keep-me"),  # our prefix, not our name
        _snapshot(rds, f"other-app-predeploy-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(START))}"),
        _snapshot(rds, predeploy_identifier(PLAN.slug, time.gmtime(START - DAY)), OTHER_INSTANCE),
    }

    deleted = prune_predeploy_snapshots(rds, INSTANCE, PLAN.slug, keep)

    assert deleted == [ours[1], ours[0]]  # the two oldest, newest first
    assert _names(rds) == set(ours[2:]) | foreign
    assert prune_predeploy_snapshots(rds, INSTANCE, PLAN.slug, keep) == []


def test_fewer_than_kept_deletes_nothing(rds: Any) -> None:
    ours = {_snapshot(rds, predeploy_identifier(PLAN.slug, time.gmtime(START + n))) for n in range(2)}
    assert prune_predeploy_snapshots(rds, INSTANCE, PLAN.slug, max(2, PLAN.predeploy_snapshots_kept)) == []
    assert _names(rds) == ours


def test_keeping_none_is_refused(rds: Any) -> None:
    with pytest.raises(ValueError, match="predeploy_snapshots_kept must be at least 1"):
        prune_predeploy_snapshots(rds, INSTANCE, PLAN.slug, 0)
