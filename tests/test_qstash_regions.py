"""QStash regions in the plan: every AWS region the catalog supports maps to exactly one QStash region, and
the plan carries the recommendation and every region (the rendered ops check QSTASH_URL against them)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from generator.plan.answers import Answers
from generator.plan.budget import NON_AWS_SERVICES
from generator.plan.catalog import Catalog
from generator.plan.plan import build_plan
from generator.plan.rules import Rules


def test_every_catalog_region_has_exactly_one_qstash_region(rules: Rules, catalog: Catalog) -> None:
    for aws_region in catalog.regions:
        nearest = [r.id for r in rules.qstash_regions if aws_region in r.nearest_for]
        assert len(nearest) == 1, (aws_region, nearest)
    listed = [region for r in rules.qstash_regions for region in r.nearest_for]
    assert sorted(listed) == sorted(catalog.regions)


def test_each_region_url_is_https_and_one_of_its_hosts(rules: Rules) -> None:
    hosts = [host for r in rules.qstash_regions for host in r.hosts]
    assert len(hosts) == len(set(hosts))  # a host names one region only
    for region in rules.qstash_regions:
        parts = urlsplit(region.url)
        assert parts.scheme == "https" and parts.netloc in region.hosts and not parts.path


@pytest.mark.parametrize(("aws_region", "qstash"), [("us-east-1", "us-east-1"), ("eu-west-1", "eu-central-1")])
def test_the_plan_recommends_the_nearer_region_and_lists_all(aws_region: str, qstash: str, rules: Rules) -> None:
    plan = build_plan(Answers(aws_region=aws_region))
    assert plan.sizing.qstash.region == qstash
    assert plan.sizing.qstash.regions == rules.qstash_regions


def test_the_aws_estimate_is_the_aws_lines_at_their_high_end() -> None:
    plan = build_plan(Answers())
    aws = [line for line in plan.lines if line.budget == "infrastructure" and line.service not in NON_AWS_SERVICES]
    assert aws and len(aws) < len([line for line in plan.lines if line.budget == "infrastructure"])
    # Exactly the shown lines' sum: a float of a whole number of cents (infra/ops.json takes numbers).
    assert Decimal(repr(plan.guard_rails.aws_estimate_high)) == sum(line.cost_high for line in aws)
    assert plan.guard_rails.aws_estimate_high <= plan.guard_rails.aws_budget_limit
