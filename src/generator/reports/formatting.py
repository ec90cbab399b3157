"""Number formatting shared by the CLI report and the rendered docs (one style everywhere)."""

from __future__ import annotations

from decimal import Decimal

# An amount as the plan holds it (Decimal), as its JSON carries it (a decimal string), or a plain number.
Amount = Decimal | float | str


def money(value: Amount) -> str:
    """$1,234.50, and -$4.34 for a negative amount (never $-4.34)."""
    amount = Decimal(value) if isinstance(value, str) else value
    text = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 and text != "0.00" else ""
    return f"{sign}${text}"


def money_range(low: Amount, high: Amount) -> str:
    """One amount when both ends show the same cents; `$1-$2`, or `-$4.34 to $0.33` when an end is negative
    (a hyphen would read as a minus sign)."""
    first, last = money(low), money(high)
    if first == last:
        return first
    separator = " to " if first.startswith("-") or last.startswith("-") else "-"
    return f"{first}{separator}{last}"


def unit_price(value: Decimal | float) -> str:
    """Enough digits to show the catalog's own precision (Lambda's $0.0000133334/GB-s)."""
    if value == 0:
        return "$0"
    text = f"{Decimal(str(value)):.10f}".rstrip("0")
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
