"""The price catalog: complete per region, dated primary sources, tiered prices applied band by band, derived prices
marked, stale prices flagged, bad data refused."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import PrivateAttr, ValidationError
from typer.testing import CliRunner

from generator.cli.commands import app
from generator.plan.answers import Answers
from generator.plan.catalog import BASE_REGION, Catalog, Tier, UnitPrice, as_of_date, is_stale, stale_prices
from generator.plan.core import price_plan
from generator.plan.data_files import load_yaml
from generator.plan.plan import build_plan
from generator.plan.rules import Rules

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def test_every_price_resolves_in_every_region_with_a_source(catalog: Catalog) -> None:
    for price_id in catalog.prices:
        for region in catalog.regions:
            price = catalog.price(price_id, region)
            assert price.usd >= 0
            assert price.sources and all(s in catalog.sources for s in price.sources)
            assert price.as_of and price.unit


def test_quoted_prices_are_the_research_figures(catalog: Catalog) -> None:
    assert catalog.price("rds.instance.db.t4g.small", "us-east-1").usd == Decimal("0.032")
    assert catalog.price("cache.node.valkey.cache.t4g.small", "us-east-1").usd == Decimal("0.0256")
    assert catalog.price("cache.node.redis.cache.t4g.micro", "ap-northeast-1").usd == Decimal("0.025")
    assert catalog.price("nat.gateway_hour", "ap-southeast-1").usd == Decimal("0.059")
    assert catalog.price("s3.storage.standard", "eu-central-1").usd == Decimal("0.0245")
    assert catalog.global_price("vercel.pro_seat").usd == Decimal("20.0")
    assert catalog.model_price("DeepSeek-R1", "output").usd == Decimal("5.40")
    # Figures read from Price List copies on 2026-11-25 (A67, A71, A72): regional quotes, not derivations.
    assert catalog.price("fargate.vcpu_hour.x86", "ap-southeast-1").usd == Decimal("0.05056")
    assert catalog.price("cache.node.valkey.cache.t4g.small", "ap-southeast-1").usd == Decimal("0.0384")
    tokyo = catalog.price("transfer.internet_out", "ap-northeast-1")
    assert not tokyo.derived
    assert [t.usd for t in tokyo.tiers] == [Decimal("0.114"), Decimal("0.089"), Decimal("0.086"), Decimal("0.084")]
    assert catalog.price("s3.requests.put", "ap-northeast-1").usd == Decimal("0.0047")


def test_yaml_figures_are_read_exactly(catalog: Catalog) -> None:
    compute = catalog.price("lambda.compute.arm64", BASE_REGION)
    assert compute.usd == Decimal("0.0000133334")
    assert compute.cost(Decimal(3)) == Decimal("0.0000400002")


def test_a_quoted_price_is_not_marked_derived(catalog: Catalog) -> None:
    price = catalog.price("nat.gateway_hour", "eu-west-3")
    assert not price.derived and price.derivation is None and price.confidence == "H"
    assert price.usd == Decimal("0.05")


def test_a_missing_region_is_derived_by_its_multiplier_and_says_so(catalog: Catalog) -> None:
    price = catalog.price("rds.instance.db.t4g.small", "eu-west-3")
    factor = Decimal(repr(catalog.multipliers["rds_cache_observed"].values["eu-west-3"]))
    assert price.derived and price.confidence == "L"
    assert price.usd == Decimal("0.032") * factor
    assert price.derivation is not None and str(factor) in price.derivation and "rds_cache_observed" in price.derivation


def test_a_derived_price_cites_only_what_backs_its_region(catalog: Catalog) -> None:
    price = catalog.price("rds.instance.db.t4g.small", "eu-west-3")
    backing = catalog.multipliers["rds_cache_observed"].sources_by_region["eu-west-3"]
    assert price.sources == (*catalog.prices["rds.instance.db.t4g.small"].quoted[BASE_REGION].sources, *backing)


def test_valkey_is_eighty_percent_of_redis_where_both_are_quoted(catalog: Catalog) -> None:
    for node in ("cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium"):
        redis = catalog.price(f"cache.node.redis.{node}", "us-east-1").usd
        valkey = catalog.price(f"cache.node.valkey.{node}", "us-east-1").usd
        assert valkey == pytest.approx(Decimal("0.8") * redis, rel=Decimal("0.01"))


# --- regional prices from the region's own quotes ---------------------------------------------------------------


@pytest.mark.parametrize("price_id", ["lambda.requests", "lambda.compute.arm64"])
def test_lambda_is_priced_the_same_in_every_region(catalog: Catalog, price_id: str) -> None:
    """AWS prices Lambda alike in the supported regions (the Price List of three of them agrees): no uplift."""
    base = catalog.price(price_id, BASE_REGION).usd
    quoted = catalog.prices[price_id].quoted
    assert {q.usd for q in quoted.values()} == {base} and len(quoted) >= 3
    cited = {s for q in quoted.values() for s in q.sources}
    for region in catalog.regions:
        price = catalog.price(price_id, region)
        assert price.usd == base, region
        # A region with no quote of its own cites the quotes that show the price is uniform.
        assert set(price.sources) == (cited if price.derived else set(quoted[region].sources)), region


def test_egress_and_s3_come_from_the_regions_own_quotes(catalog: Catalog) -> None:
    egress = catalog.price("transfer.internet_out", "ap-southeast-1")
    assert not egress.derived and egress.usd == Decimal("0.12")
    assert [t.usd for t in egress.tiers] == [Decimal("0.12"), Decimal("0.085"), Decimal("0.082"), Decimal("0.08")]
    paris = catalog.price("transfer.internet_out", "eu-west-3")
    assert paris.usd == catalog.price("transfer.internet_out", BASE_REGION).usd == Decimal("0.09")
    assert catalog.price("s3.storage.standard", "eu-west-3").usd == Decimal("0.024")
    assert catalog.price("s3.requests.put", "eu-west-3").usd == Decimal("0.0053")


def test_a_first_band_quote_takes_the_base_regions_band_steps_and_says_so(catalog: Catalog) -> None:
    base = catalog.prices["s3.storage.standard"].quoted[BASE_REGION]
    paris = catalog.price("s3.storage.standard", "eu-west-3")
    steps = [base.usd - t.usd for t in base.tiers]
    assert [t.usd for t in paris.tiers] == [paris.usd - step for step in steps]
    assert [t.up_to for t in paris.tiers] == [t.up_to for t in base.tiers]
    assert paris.derivation is None and paris.tiers_derivation is not None
    assert "first band quoted" in paris.tiers_derivation
    # The derived bands are named on a line only once a quantity reaches them.
    assert paris.line_derivation(Decimal(10), Decimal(100)) is None
    second_band = paris.line_derivation(Decimal(10), Decimal(60_000))
    assert second_band is not None and "first band quoted" in second_band and "8,800 at 0.023" in second_band


# --- tiered prices ----------------------------------------------------------------------------------------------


def _price(tiers: tuple[Tier, ...] = (), usd: str = "0.023") -> UnitPrice:
    return UnitPrice(
        id="x", region=BASE_REGION, usd=Decimal(usd), unit="GB", description="x", sources=("A2",),
        as_of="2026-08-12", confidence="H", tiers=tiers,
    )  # fmt: skip


BANDS = (
    Tier(up_to=Decimal(100), usd=Decimal("0.5")),
    Tier(up_to=Decimal(300), usd=Decimal("0.25")),
    Tier(usd=Decimal("0.1")),
)


def test_a_flat_price_costs_quantity_times_usd_exactly() -> None:
    assert _price().tiers == ()
    assert _price().cost(Decimal("150.5")) == Decimal("3.4615")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("0", "0"), ("40", "20"), ("100", "50"), ("100.4", "50.1"), ("300", "100"), ("1000", "170")],
)
def test_a_tiered_price_bills_each_band_at_its_rate(quantity: str, expected: str) -> None:
    assert _price(BANDS, usd="0.5").cost(Decimal(quantity)) == Decimal(expected)


def test_tiers_used_names_the_bands_a_quantity_reaches() -> None:
    price = _price(BANDS, usd="0.5")
    assert price.tiers_used(Decimal(50)) is None
    assert price.tiers_used(Decimal(350)) == "100 at 0.5 + 200 at 0.25 + 50 at 0.1 (monthly bands)"


def _band_sum(tiers: list[dict[str, float]], quantity: float) -> Decimal:
    """Hand-computed: each band's share of `quantity` at its rate, from the catalog file's own tier data."""
    total, floor = Decimal(0), Decimal(0)
    left = Decimal(repr(quantity))
    for band in tiers:
        top = Decimal(repr(band["up_to"])) if "up_to" in band else None
        width = left if top is None else min(left, top - floor)
        total += width * Decimal(repr(band["usd"]))
        left -= width
        floor = top if top is not None else floor
        if left <= 0:
            break
    return total


@pytest.mark.parametrize(
    ("line_id", "price_id"), [("s3_storage", "s3.storage.standard"), ("data_transfer", "transfer.internet_out")]
)
def test_tiered_cost_at_100000_users_is_the_band_sum_and_below_the_flat_first_tier(line_id: str, price_id: str) -> None:
    plan = build_plan(Answers(users=100_000, aws_budget=100_000, ai_budget=1_000_000))
    line = next(line for line in plan.lines if line.id == line_id)
    raw_tiers = load_yaml("prices.yaml")["prices"][price_id]["quoted"][BASE_REGION]["tiers"]
    first_band = Decimal(repr(raw_tiers[0]["usd"]))
    for quantity, cost in ((line.quantity_low, line.cost_low), (line.quantity_high, line.cost_high)):
        expected = _band_sum(raw_tiers, quantity)
        assert abs(Decimal(str(cost)) - expected) <= Decimal("0.005"), (quantity, cost, expected)
        assert Decimal(str(cost)) < Decimal(repr(quantity)) * first_band
    assert line.derivation is not None and "monthly bands" in line.derivation


# --- sources ----------------------------------------------------------------------------------------------------


def test_no_source_is_a_search_url_or_a_test_fixture(catalog: Catalog) -> None:
    for sid, source in catalog.sources.items():
        text = f"{source.title} {source.url}".lower()
        assert "github.com/search" not in text and "search?q=" not in text, sid
        assert "fixture" not in text, sid
        assert not re.search(r"/(tests?|fixtures?|testdata)/|_test\.|test_", source.url.lower()), sid


def test_every_source_and_every_quote_has_a_date(catalog: Catalog) -> None:
    assert all(DATE.match(source.as_of) for source in catalog.sources.values())
    quotes = [q for entry in catalog.prices.values() for q in (entry.global_, *entry.quoted.values()) if q]
    quotes += [q for model in catalog.models.values() for q in (model.input, model.output)]
    assert quotes and all(DATE.match(q.as_of) for q in quotes)


@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.yml")))
def test_no_price_the_examples_use_is_older_than_2025_01(catalog: Catalog, example: str) -> None:
    answers = Answers.model_validate(yaml.safe_load((EXAMPLES / f"{example}.yml").read_text(encoding="utf-8")))
    plan = build_plan(answers)
    floor = dt.date(2025, 1, 1)
    for line in plan.lines:
        assert as_of_date(line.as_of) >= floor, (line.id, line.as_of)
        for sid in line.sources:
            assert as_of_date(catalog.sources[sid].as_of) >= floor, (line.id, sid)


class _RecordingCatalog(Catalog):
    """The catalog itself, noting each price the plan looks up: the scaling table, the hosting comparison and the
    corrections price from it too, and their rows carry totals, not the prices behind them."""

    _looked_up: list[UnitPrice] = PrivateAttr(default_factory=list)

    def price(self, price_id: str, region: str) -> UnitPrice:
        price = super().price(price_id, region)
        self._looked_up.append(price)
        return price

    def model_price(self, model: str, direction: Literal["input", "output"]) -> UnitPrice:
        price = super().model_price(model, direction)
        self._looked_up.append(price)
        return price


# The prices the examples use that are not an H or M quote (2026-11-25), each with why. Each is derived: the
# us-east-1 quote times the ratio observed in the region's own Price List entries for a sibling class or node
# (its line says so). Remove an entry when its region's own figure is found; the test fails on a stale entry.
_NO_REGIONAL_QUOTE = "no dated Price List copy quoting this class in this region was found; us-east-1 quote x "
DERIVED_PRICES_THE_EXAMPLES_USE = {
    ("rds.instance.db.t4g.micro", "ap-southeast-1"): _NO_REGIONAL_QUOTE + "Singapore's db.t4g.medium ratio",
    ("rds.instance.db.t4g.small", "ap-southeast-1"): _NO_REGIONAL_QUOTE + "Singapore's db.t4g.medium ratio",
    ("rds.instance.db.t4g.small", "eu-west-3"): _NO_REGIONAL_QUOTE + "Paris's db.t4g.micro ratio",
    ("rds.instance.db.t4g.medium", "eu-west-3"): _NO_REGIONAL_QUOTE + "Paris's db.t4g.micro ratio",
    ("cache.node.redis.cache.t4g.micro", "ap-southeast-1"): _NO_REGIONAL_QUOTE + "Singapore's db.t4g.medium ratio",
    ("cache.node.redis.cache.t4g.small", "ap-southeast-1"): _NO_REGIONAL_QUOTE + "Singapore's db.t4g.medium ratio",
    ("cache.node.redis.cache.t4g.small", "eu-west-3"): _NO_REGIONAL_QUOTE + "Paris's db.t4g.micro ratio",
    ("cache.node.valkey.cache.t4g.small", "eu-west-3"): _NO_REGIONAL_QUOTE + "Paris's db.t4g.micro ratio",
    ("cache.node.valkey.cache.t4g.medium", "eu-west-3"): _NO_REGIONAL_QUOTE + "Paris's db.t4g.micro ratio",
    ("ec2.instance.t4g.medium", "ap-southeast-1"): _NO_REGIONAL_QUOTE + "the coarse regional table (comparison only)",
    ("ec2.instance.t4g.medium", "eu-west-3"): _NO_REGIONAL_QUOTE + "the coarse regional table (comparison only)",
    ("fargate.vcpu_hour.x86", "eu-west-3"): _NO_REGIONAL_QUOTE + "the coarse regional table (comparison only)",
    ("fargate.gb_hour.x86", "eu-west-3"): _NO_REGIONAL_QUOTE + "the coarse regional table (comparison only)",
    ("fargate.vcpu_hour.arm64", "eu-west-3"): _NO_REGIONAL_QUOTE + "the coarse regional table (comparison only)",
    ("fargate.gb_hour.arm64", "eu-west-3"): _NO_REGIONAL_QUOTE + "the coarse regional table (comparison only)",
}


def test_every_price_the_examples_use_is_sourced_h_or_m_and_dated_2025_or_later(rules: Rules) -> None:
    """Every price the three examples' plans look up (budget lines, scaling rows, hosting comparison,
    corrections, advice): an H or M quote whose figure and sources are dated 2025-01 or later, or one of the
    derived prices listed above, whose us-east-1 quote is."""
    catalog = _RecordingCatalog.model_validate(load_yaml("prices.yaml"))
    floor = dt.date(2025, 1, 1)
    for example in sorted(p.stem for p in EXAMPLES.glob("*.yml")):
        answers = Answers.model_validate(yaml.safe_load((EXAMPLES / f"{example}.yml").read_text(encoding="utf-8")))
        plan = build_plan(answers, catalog, rules)
        for row in plan.scaling:  # the scaling table prices each row with the default catalog: price it here too
            price_plan(answers.model_copy(update={"users": row.users}), catalog, rules)
    used = {(p.id, p.region): p for p in catalog._looked_up}
    assert len(used) > 60  # budget lines, comparison and corrections of three regions, and the models
    derived = set()
    for (price_id, region), price in sorted(used.items()):
        assert as_of_date(price.as_of) >= floor, (price_id, region, price.as_of)
        assert all(as_of_date(catalog.sources[s].as_of) >= floor for s in price.sources), (price_id, region)
        if price.confidence in ("H", "M"):  # a quote, or a price AWS sets alike everywhere (its quotes cited)
            continue
        assert (price_id, region) in DERIVED_PRICES_THE_EXAMPLES_USE, (price_id, region, price.confidence)
        base = catalog.prices[price_id].quoted[BASE_REGION]
        assert price.derived and price.derivation and base.confidence in ("H", "M"), (price_id, region)
        derived.add((price_id, region))
    assert derived == set(DERIVED_PRICES_THE_EXAMPLES_USE)


def test_an_undated_source_or_quote_is_refused() -> None:
    raw = _raw()
    raw["sources"]["V1"]["as_of"] = "undated"
    with pytest.raises(ValidationError, match="as_of must be a date"):
        Catalog.model_validate(raw)
    raw = _raw()
    raw["prices"]["nat.gateway_hour"]["quoted"]["us-east-1"]["as_of"] = "older blog"
    with pytest.raises(ValidationError, match="as_of must be a date"):
        Catalog.model_validate(raw)


# --- stale prices -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cited:
    price_id: str
    as_of: str


def test_a_price_older_than_twelve_months_is_stale() -> None:
    today = dt.date(2026, 11, 25)
    assert is_stale("2025-10-28", today) and is_stale("2025-11", today) and is_stale("2025", today)
    assert not is_stale("2025-11-26", today) and not is_stale("2026-08-12", today) and not is_stale("2026", today)


def test_stale_prices_names_each_stale_price_once_oldest_first() -> None:
    cited = [_Cited("a", "2026-08-12"), _Cited("b", "2025-05"), _Cited("c", "2019-07"), _Cited("b", "2025-05")]
    stale = stale_prices(cited, dt.date(2026, 11, 25))
    assert [(s.price_id, s.as_of) for s in stale] == [("c", "2019-07"), ("b", "2025-05")]


# --- bad data ---------------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"up_to": 51200, "usd": 0.024}, {"usd": 0.022}], "first band"),
        ([{"up_to": 51200, "usd": 0.023}, {"up_to": 1000, "usd": 0.022}, {"usd": 0.021}], "increase"),
        ([{"usd": 0.023}, {"up_to": 51200, "usd": 0.022}], "last band"),
    ],
)
def test_inconsistent_bands_are_refused(tiers: list[dict[str, float]], message: str) -> None:
    raw = _raw()
    raw["prices"]["s3.storage.standard"]["quoted"]["us-east-1"]["tiers"] = tiers
    with pytest.raises(ValidationError, match=message):
        Catalog.model_validate(raw)


def test_estimate_names_stale_prices_under_the_table_and_in_json() -> None:
    """eu-west-1 prices its RDS backup storage from a May 2025 bill: more than 12 months old."""
    runner = CliRunner()
    args = ["estimate", "--region", "eu-west-1"]
    table = runner.invoke(app, args, terminal_width=400)
    data = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    expected = [
        s.model_dump() for s in stale_prices(build_plan(Answers(aws_region="eu-west-1")).lines, dt.date.today())
    ]
    assert data["stale_prices"] == expected
    assert {"price_id": "rds.storage.backup", "as_of": "2025-05"} in expected
    assert "Prices older than 12 months: " in table.stdout and "rds.storage.backup (as of 2025-05)" in table.stdout
    reference = json.loads(runner.invoke(app, ["estimate", "--format", "json"]).stdout)
    assert reference["stale_prices"] == []
