"""The price catalog: complete per region, sourced, derived prices marked, bad data refused."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from generator.plan.catalog import Catalog
from generator.plan.data_files import load_yaml


def test_every_price_resolves_in_every_region_with_a_source(catalog: Catalog) -> None:
    for price_id in catalog.prices:
        for region in catalog.regions:
            price = catalog.price(price_id, region)
            assert price.usd >= 0
            assert price.sources and all(s in catalog.sources for s in price.sources)
            assert price.as_of and price.unit


def test_quoted_prices_are_the_research_figures(catalog: Catalog) -> None:
    assert catalog.price("rds.instance.db.t4g.small", "us-east-1").usd == 0.032
    assert catalog.price("cache.node.valkey.cache.t4g.small", "us-east-1").usd == 0.0256
    assert catalog.price("cache.node.redis.cache.t4g.micro", "ap-northeast-1").usd == 0.025
    assert catalog.price("nat.gateway_hour", "ap-southeast-1").usd == 0.059
    assert catalog.price("s3.storage.standard", "eu-central-1").usd == 0.0245
    assert catalog.global_price("vercel.pro_seat").usd == 20.0
    assert catalog.model_price("DeepSeek-R1", "output").usd == 5.40


def test_a_quoted_price_is_not_marked_derived(catalog: Catalog) -> None:
    price = catalog.price("nat.gateway_hour", "eu-west-1")
    assert not price.derived and price.derivation is None and price.confidence == "M"


def test_a_missing_region_is_derived_by_its_multiplier_and_says_so(catalog: Catalog) -> None:
    price = catalog.price("rds.instance.db.t4g.small", "eu-west-3")
    assert price.derived and price.confidence == "L"
    assert price.usd == pytest.approx(0.032 * 1.13)
    assert price.derivation is not None and "1.13" in price.derivation and "rds_cache_observed" in price.derivation


def test_valkey_is_eighty_percent_of_redis_where_both_are_quoted(catalog: Catalog) -> None:
    for node in ("cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium"):
        redis = catalog.price(f"cache.node.redis.{node}", "us-east-1").usd
        valkey = catalog.price(f"cache.node.valkey.{node}", "us-east-1").usd
        assert valkey == pytest.approx(0.8 * redis, rel=0.01)


def _raw() -> dict:
    return copy.deepcopy(load_yaml("prices.yaml"))


def test_an_unknown_source_id_is_refused() -> None:
    raw = _raw()
    raw["prices"]["vercel.pro_seat"]["global"]["sources"] = ["NOPE"]
    with pytest.raises(ValidationError, match="unknown source ids"):
        Catalog.model_validate(raw)


def test_a_regional_price_without_base_quote_is_refused() -> None:
    raw = _raw()
    del raw["prices"]["nat.gateway_hour"]["quoted"]["us-east-1"]
    with pytest.raises(ValidationError, match="us-east-1 quote"):
        Catalog.model_validate(raw)


def test_a_price_with_gaps_and_no_multiplier_is_refused() -> None:
    raw = _raw()
    del raw["prices"]["nat.gateway_hour"]["derive"]
    with pytest.raises(ValidationError, match="no multiplier set"):
        Catalog.model_validate(raw)


def test_a_negative_price_is_refused() -> None:
    raw = _raw()
    raw["prices"]["vercel.pro_seat"]["global"]["usd"] = -1
    with pytest.raises(ValidationError):
        Catalog.model_validate(raw)
