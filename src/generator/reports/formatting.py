"""Number formatting shared by the CLI report and the rendered docs (one style everywhere)."""

from __future__ import annotations


def money(value: float) -> str:
    return f"${value:,.2f}"


def money_range(low: float, high: float) -> str:
    if abs(high - low) < 0.005:
        return money(low)
    return f"{money(low)}-{money(high)}"


def unit_price(value: float) -> str:
    """Enough digits to show the catalog's own precision (Lambda's $0.0000133334/GB-s)."""
    if value == 0:
        return "$0"
    text = f"{value:.10f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def quantity(low: float, high: float) -> str:
    def one(value: float) -> str:
        if value == int(value):
            return f"{int(value):,}"
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:,.4g}"

    return one(low) if abs(high - low) < 1e-9 else f"{one(low)}-{one(high)}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def source_ids(ids: tuple[str, ...] | list[str]) -> str:
    return ", ".join(ids)
