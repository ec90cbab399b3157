"""The price catalog: every unit price the plan uses, per region, with its dated source.

`data/prices.yaml` holds what the research quoted. A region without a quote gets a price derived from the
base region's quote and a named multiplier set; such a price says so in `derivation` and is never
presented as a quote. Prices AWS bills in monthly volume bands carry their `tiers`, and `UnitPrice.cost`
applies them. Amounts are exact decimals.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from generator.plan.data_files import load_yaml

Confidence = Literal["H", "M", "L"]
BASE_REGION = "us-east-1"
# A price is flagged as stale when its figure is older than this.
STALE_AFTER_MONTHS = 12


def _exact(value: object) -> object:
    """YAML hands prices over as binary floats: go through their shortest repr (the digits written in the file,
    for any figure of 15 significant digits or fewer) so that 0.0256 is Decimal("0.0256"), not 0.02559999..."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _dated(value: str) -> str:
    if not _DATE.match(value):
        raise ValueError(f"as_of must be a date (YYYY, YYYY-MM or YYYY-MM-DD), not {value!r}")
    as_of_date(value)
    return value


Usd = Annotated[Decimal, BeforeValidator(_exact)]
DateText = Annotated[str, AfterValidator(_dated)]


def as_of_date(as_of: str) -> dt.date:
    """The earliest day an `as_of` can mean ("2026" is 2026-01-01, "2025-10" is 2025-10-01): a figure is
    judged by the oldest it may be."""
    parts = [int(p) for p in as_of.split("-")]
    return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def is_stale(as_of: str, today: dt.date, months: int = STALE_AFTER_MONTHS) -> bool:
    """True when the figure may be more than `months` months old on `today`."""
    then = as_of_date(as_of)
    months_old = (today.year - then.year) * 12 + today.month - then.month - (today.day < then.day)
    return months_old >= months and then < today


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    title: str
    url: str
    # The Price List publication date, or the day the page was read.
    as_of: DateText


class Tier(_Frozen):
    """One band of a tiered price: `usd` per unit for the units above the previous band, up to `up_to` units
    a month (None: no upper bound)."""

    up_to: Usd | None = None
    usd: Usd = Field(ge=0)


def _check_tiers(tiers: tuple[Tier, ...], first_usd: Decimal) -> None:
    if not tiers:
        return
    if tiers[0].usd != first_usd:
        raise ValueError("a tiered quote's usd is its first band's price")
    if tiers[-1].up_to is not None or any(t.up_to is None for t in tiers[:-1]):
        raise ValueError("only the last band is open-ended")
    edges = [t.up_to for t in tiers[:-1] if t.up_to is not None]
    if any(b <= a for a, b in zip([Decimal(0), *edges], edges, strict=False)):
        raise ValueError("band edges must increase")


class Quote(_Frozen):
    usd: Usd = Field(ge=0)
    tiers: tuple[Tier, ...] = ()
    sources: tuple[str, ...] = Field(min_length=1)
    as_of: DateText
    confidence: Confidence

    @model_validator(mode="after")
    def _bands(self) -> Quote:
        _check_tiers(self.tiers, self.usd)
        return self


class PriceEntry(_Frozen):
    unit: str
    description: str
    quoted: dict[str, Quote] = Field(default_factory=dict)
    derive: str | None = None
    global_: Quote | None = Field(default=None, alias="global")

    @model_validator(mode="after")
    def _one_kind(self) -> PriceEntry:
        if self.global_ is not None and (self.quoted or self.derive):
            raise ValueError("a global price has no per-region quotes")
        if self.global_ is None and BASE_REGION not in self.quoted:
            raise ValueError(f"a regional price needs a {BASE_REGION} quote")
        return self


class MultiplierSet(_Frozen):
    explanation: str
    sources: tuple[str, ...]
    values: dict[str, float]
    # What backs one region's factor; a derived price cites these (the set's sources when absent).
    sources_by_region: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    confidence: Confidence = "L"
    # A price AWS sets alike everywhere: what backs a derived figure is the price's own quotes in other regions.
    cites_other_quotes: bool = False

    def sources_for(self, region: str) -> tuple[str, ...]:
        return self.sources_by_region.get(region, self.sources)

    def factor(self, region: str) -> Decimal:
        return Decimal(repr(self.values[region]))


class Allowance(_Frozen):
    value: float
    sources: tuple[str, ...]
    note: str


class Discount(_Frozen):
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    sources: tuple[str, ...]
    confidence: Confidence
    note: str


LifecycleStage = Literal["preview", "generally-available", "legacy", "deprecated", "retired"]


class Lifecycle(_Frozen):
    """A model's row in Microsoft's retirement schedule, as read on `checked`."""

    stage: LifecycleStage
    retired_on: str | None = None
    successor: str | None = None
    sources: tuple[str, ...] = Field(min_length=1)
    checked: str
    note: str | None = None

    @property
    def retired(self) -> bool:
        return self.stage == "retired"

    def describe(self) -> str:
        """One phrase for docs and errors, e.g. 'retired on 2026-08-13; Microsoft names DeepSeek-V4-Pro as its
        successor'."""
        if not self.retired:
            return self.stage.replace("-", " ")
        when = f" on {self.retired_on}" if self.retired_on else ""
        successor = f"; Microsoft names {self.successor} as its successor" if self.successor else ""
        return f"retired{when}{successor}"


class ModelPrice(_Frozen):
    capabilities: tuple[str, ...]
    note: str | None = None
    lifecycle: Lifecycle
    input: Quote
    output: Quote


class UnitPrice(_Frozen):
    """One price, resolved for one region: what a budget line cites."""

    id: str
    region: str
    # The price of the first unit (the first band's when tiered).
    usd: Usd
    unit: str
    description: str
    sources: tuple[str, ...]
    as_of: str
    confidence: Confidence
    derived: bool = False
    derivation: str | None = None
    # AWS's monthly volume bands, in order; empty when the price is flat.
    tiers: tuple[Tier, ...] = ()
    # How the bands above the first were had when only the first was quoted (they matter only once used).
    tiers_derivation: str | None = None

    def _bands(self, quantity: Decimal) -> list[tuple[Decimal, Tier]]:
        """The units of `quantity` that fall in each band, for the bands it reaches."""
        used: list[tuple[Decimal, Tier]] = []
        floor = Decimal(0)
        for tier in self.tiers:
            if quantity <= floor:
                break
            top = quantity if tier.up_to is None else min(quantity, tier.up_to)
            used.append((top - floor, tier))
            floor = top
        return used

    def cost(self, quantity: Decimal) -> Decimal:
        """The exact, unrounded cost of `quantity` units in one month: each band's units at its own rate when
        the price is tiered, quantity x usd when flat."""
        if not self.tiers:
            return quantity * self.usd
        return sum((units * tier.usd for units, tier in self._bands(quantity)), Decimal(0))

    def tiers_used(self, quantity: Decimal) -> str | None:
        """How a tiered cost was made up, e.g. "51,200 at 0.023 + 8,800 at 0.022 (monthly bands)"; None when
        the price is flat or the quantity stays in the first band."""
        bands = self._bands(quantity)
        if len(bands) < 2:
            return None
        return " + ".join(f"{units:,.6f}".rstrip("0").rstrip(".") + f" at {_fmt(t.usd)}" for units, t in bands) + (
            " (monthly bands)"
        )

    def line_derivation(self, low: Decimal, high: Decimal) -> str | None:
        """What a budget line for `low`-`high` units says of its price: how it was derived, and which bands a
        tiered cost used (e.g. "tiered, high: 51,200 at 0.023 + 8,800 at 0.022 (monthly bands)")."""
        used = [
            f"{name}: {bands}"
            for name, bands in (("low", self.tiers_used(low)), ("high", self.tiers_used(high)))
            if bands
        ]
        parts = [self.derivation] if self.derivation else []
        if used:
            parts += [p for p in (self.tiers_derivation, "tiered, " + "; ".join(used)) if p]
        return "; ".join(parts) or None


class Catalog(_Frozen):
    catalog_as_of: str
    hours_per_month: int
    regions: tuple[str, ...]
    sources: dict[str, Source]
    multipliers: dict[str, MultiplierSet]
    allowances: dict[str, Allowance]
    discounts: dict[str, Discount]
    prices: dict[str, PriceEntry]
    models: dict[str, ModelPrice]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        cited: list[str] = []
        for name, entry in self.prices.items():
            quotes = [entry.global_] if entry.global_ else list(entry.quoted.values())
            cited += [s for q in quotes if q for s in q.sources]
            unknown_regions = set(entry.quoted) - set(self.regions)
            if unknown_regions:
                raise ValueError(f"{name}: unknown regions {sorted(unknown_regions)}")
            if entry.global_ is None:
                missing = set(self.regions) - set(entry.quoted)
                if missing and entry.derive not in self.multipliers:
                    raise ValueError(f"{name}: no quote for {sorted(missing)} and no multiplier set")
        for ms_name, ms in self.multipliers.items():
            if set(ms.values) != set(self.regions):
                raise ValueError(f"multiplier set {ms_name} must cover every region")
            if set(ms.sources_by_region) - set(self.regions):
                raise ValueError(f"multiplier set {ms_name}: sources for unknown regions")
            cited += [*ms.sources, *(s for ids in ms.sources_by_region.values() for s in ids)]
        for model in self.models.values():
            cited += [*model.input.sources, *model.output.sources, *model.lifecycle.sources]
        for group in (self.allowances, self.discounts):
            for item in group.values():
                cited += item.sources
        unknown = sorted(set(cited) - set(self.sources))
        if unknown:
            raise ValueError(f"unknown source ids {unknown}")
        return self

    def price(self, price_id: str, region: str) -> UnitPrice:
        entry = self.prices[price_id]
        common = {"id": price_id, "region": region, "unit": entry.unit, "description": entry.description}
        base = entry.global_ or entry.quoted[BASE_REGION]
        quote = entry.global_ or entry.quoted.get(region)
        if quote is not None:
            tiers, tiers_derivation = quote.tiers, None
            if base.tiers and not quote.tiers:
                # Only the first band is quoted: the base region's band edges and steps carry the rest (AWS
                # steps S3 and egress bands by the same amounts across the regions quoted here).
                tiers = tuple(
                    Tier(up_to=t.up_to, usd=max(Decimal(0), quote.usd - (base.usd - t.usd))) for t in base.tiers
                )
                tiers_derivation = (
                    f"first band quoted; upper bands {', '.join(_fmt(t.usd) for t in tiers[1:])} take "
                    f"{BASE_REGION}'s band steps"
                )
            return UnitPrice(
                **common,
                usd=quote.usd,
                sources=quote.sources,
                as_of=quote.as_of,
                confidence=quote.confidence,
                tiers=tiers,
                tiers_derivation=tiers_derivation,
            )
        assert entry.derive is not None  # checked at load
        multipliers = self.multipliers[entry.derive]
        factor = multipliers.factor(region)
        tiers = tuple(Tier(up_to=t.up_to, usd=_derived(t.usd, factor)) for t in base.tiers)
        bands = f"; bands {', '.join(_fmt(t.usd) for t in tiers)}" if tiers else ""
        return UnitPrice(
            **common,
            usd=_derived(base.usd, factor),
            sources=tuple(
                dict.fromkeys(
                    (*base.sources, *(s for q in entry.quoted.values() for s in q.sources))
                    if multipliers.cites_other_quotes
                    else (*base.sources, *multipliers.sources_for(region))
                )
            ),
            as_of=base.as_of,
            confidence=multipliers.confidence,
            derived=True,
            derivation=f"derived: {BASE_REGION} {_fmt(base.usd)} x {factor} ({entry.derive}){bands}",
            tiers=tiers,
        )

    def global_price(self, price_id: str) -> UnitPrice:
        if self.prices[price_id].global_ is None:
            raise KeyError(f"{price_id} is priced per region")
        return self.price(price_id, "global")

    def model_price(self, model: str, direction: Literal["input", "output"]) -> UnitPrice:
        entry = self.models[model]
        quote = entry.input if direction == "input" else entry.output
        return UnitPrice(
            id=f"azure.{model}.{direction}",
            region="global",
            usd=quote.usd,
            unit="1M tokens",
            description=f"Azure AI {model}, {direction} tokens (Global Standard)",
            sources=quote.sources,
            as_of=quote.as_of,
            confidence=quote.confidence,
        )

    def available_models(self, needs: tuple[str, ...] = ()) -> list[str]:
        """The models an answer may name: not retired, with every capability in `needs`."""
        return [
            name
            for name, model in self.models.items()
            if not model.lifecycle.retired and set(needs) <= set(model.capabilities)
        ]

    def allowance(self, name: str) -> float:
        return self.allowances[name].value

    def source_text(self, source_ids: tuple[str, ...]) -> str:
        return "; ".join(f"{sid}: {self.sources[sid].url}" for sid in source_ids)


def _derived(usd: Decimal, factor: Decimal) -> Decimal:
    """A derived price, to two more decimal places than the quote it comes from (a derivation is no more
    precise than that; 0.045 x 1.1111 is 0.05000, not 0.0499995)."""
    places = Decimal(1).scaleb(int(usd.as_tuple().exponent) - 2)
    return (usd * factor).quantize(places, rounding=ROUND_HALF_UP)


def _fmt(usd: Decimal) -> str:
    """A unit price as written in the catalog: its significant digits, no exponent, no trailing zeros."""
    text = f"{usd.normalize():f}"
    return text


class Dated(Protocol):
    """Anything citing a catalog price: a budget line."""

    @property
    def price_id(self) -> str: ...

    @property
    def as_of(self) -> str: ...


class StalePrice(_Frozen):
    price_id: str
    as_of: str


def stale_prices(items: Iterable[Dated], today: dt.date) -> list[StalePrice]:
    """The prices among `items` whose figure may be older than STALE_AFTER_MONTHS months on `today`, once each,
    oldest first."""
    seen = {(i.price_id, i.as_of) for i in items if is_stale(i.as_of, today)}
    return [StalePrice(price_id=p, as_of=a) for p, a in sorted(seen, key=lambda pa: (as_of_date(pa[1]), pa[0]))]


def stale_note(items: Iterable[Dated], today: dt.date) -> str | None:
    """One line naming the stale prices, for under a table; None when there are none."""
    stale = stale_prices(items, today)
    if not stale:
        return None
    names = ", ".join(f"{s.price_id} (as of {s.as_of})" for s in stale)
    return f"Prices older than {STALE_AFTER_MONTHS} months: {names}. Check them before relying on the total."


@cache
def load_catalog() -> Catalog:
    return Catalog.model_validate(load_yaml("prices.yaml"))
