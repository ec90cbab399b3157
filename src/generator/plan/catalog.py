"""The price catalog: every unit price the plan uses, per region, with its source.

`data/prices.yaml` holds what the research quoted. A region without a quote gets a price derived from the
base region's quote and a named multiplier set; such a price says so in `derivation` and is never
presented as a quote.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.plan.data_files import load_yaml

Confidence = Literal["H", "M", "L"]
BASE_REGION = "us-east-1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    title: str
    url: str


class Quote(_Frozen):
    usd: float = Field(ge=0)
    sources: tuple[str, ...] = Field(min_length=1)
    as_of: str
    confidence: Confidence


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
    usd: float
    unit: str
    description: str
    sources: tuple[str, ...]
    as_of: str
    confidence: Confidence
    derived: bool = False
    derivation: str | None = None


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
            cited += ms.sources
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
        quote = entry.global_ or entry.quoted.get(region)
        if quote is not None:
            return UnitPrice(
                **common,
                usd=quote.usd,
                sources=quote.sources,
                as_of=quote.as_of,
                confidence=quote.confidence,
            )
        assert entry.derive is not None  # checked at load
        multipliers = self.multipliers[entry.derive]
        base = entry.quoted[BASE_REGION]
        factor = multipliers.values[region]
        return UnitPrice(
            **common,
            usd=round(base.usd * factor, 10),
            sources=tuple(dict.fromkeys((*base.sources, *multipliers.sources))),
            as_of=base.as_of,
            confidence="L",
            derived=True,
            derivation=f"derived: {BASE_REGION} {base.usd:g} x {factor:g} ({entry.derive})",
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


@cache
def load_catalog() -> Catalog:
    return Catalog.model_validate(load_yaml("prices.yaml"))
