"""What the region offers for the plan's database and cache: engine versions and instance classes.

AWS withdraws create support for old minor versions, so the stack is created with versions resolved from
the region at deploy time (updates keep the running ones):
- RDS: "DescribeDBEngineVersions" with DefaultOnly returns "only the default version of the specified
  engine or engine and major version combination"
  (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBEngineVersions.html), and
  "DescribeOrderableDBInstanceOptions" lists the instance classes orderable for an engine version in the
  region (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeOrderableDBInstanceOptions.html).
- ElastiCache: "DescribeCacheEngineVersions" lists the region's versions of an engine
  (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeCacheEngineVersions.html);
  the newest of the plan's major is taken, as major.minor (ElastiCache manages the patch level). ElastiCache
  has no orderable-options call: a node type is sold in a region when it has reserved-node offerings there
  ("DescribeReservedCacheNodesOfferings",
  https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeReservedCacheNodesOfferings.html).
All read 2026-11-25.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.config import Cache, Database


@dataclass(frozen=True)
class EngineVersions:
    database: str  # e.g. "17.6": the region's default minor of the plan's major
    cache: str  # e.g. "8.2": the region's newest major.minor of the plan's major


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def database_version(rds: Any, database: Database, region: str) -> tuple[str | None, list[str]]:
    found = rds.describe_db_engine_versions(
        Engine=database.engine, EngineVersion=database.engine_version, DefaultOnly=True
    )["DBEngineVersions"]
    if not found:
        return None, [f"RDS in {region} offers no {database.engine} {database.engine_version} to create"]
    version = str(found[0]["EngineVersion"])
    options = rds.describe_orderable_db_instance_options(
        Engine=database.engine, EngineVersion=version, DBInstanceClass=database.instance_class
    )["OrderableDBInstanceOptions"]
    if not options:
        return version, [
            f"RDS in {region} has no {database.instance_class} for {database.engine} {version}"
            " (choose another region, or another tier with --users)"
        ]
    return version, []


def cache_version(elasticache: Any, cache: Cache, region: str) -> tuple[str | None, list[str]]:
    versions: list[str] = []
    for page in elasticache.get_paginator("describe_cache_engine_versions").paginate(Engine=cache.engine):
        versions += [str(v["EngineVersion"]) for v in page["CacheEngineVersions"]]
    same_major = [v for v in versions if v.split(".")[0] == cache.major]
    if not same_major:
        return None, [f"ElastiCache in {region} offers no {cache.engine} {cache.major}.x (found: {sorted(versions)})"]
    newest = max(same_major, key=_numeric)
    version = ".".join(newest.split(".")[:2])
    offerings = elasticache.describe_reserved_cache_nodes_offerings(CacheNodeType=cache.node_type, MaxRecords=20)
    if not offerings["ReservedCacheNodesOfferings"]:
        return version, [f"ElastiCache in {region} does not offer {cache.node_type}"]
    return version, []


def region_offers(
    rds: Any, elasticache: Any, database: Database, cache: Cache, region: str
) -> tuple[EngineVersions | None, list[str]]:
    db, db_problems = database_version(rds, database, region)
    cc, cache_problems = cache_version(elasticache, cache, region)
    problems = db_problems + cache_problems
    if problems or db is None or cc is None:
        return None, problems
    return EngineVersions(database=db, cache=cc), []
