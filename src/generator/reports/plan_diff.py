"""What an update changes in the plan: priced lines, totals and verdicts, sizing (like infracost's diff).

Both sides are the plan's JSON (`betagen estimate --format json`): the old one as the project recorded it
(.betagen/plan.json), the new one from the engine of the template version the update brings. Working on
JSON, the diff reads plans of any two engine versions; a field one side lacks reads as absent. Amounts are
numbers in older plans and decimal strings ("136.65") since money became exact: both read as Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from generator.reports.formatting import money, money_range, unit_price

BUDGETS = (("infrastructure", "Infrastructure (AWS + Vercel + Upstash)"), ("ai", "Azure AI"))
# The sizing an update can change that a founder watches: instance classes, redundancy, NAT, concurrency.
SIZING = (
    (("tier", "name"), "tier"),
    (("rds", "instance_class"), "RDS instance class"),
    (("rds", "multi_az"), "RDS Multi-AZ"),
    (("cache", "node_type"), "cache node type"),
    (("cache", "replicas"), "cache replicas"),
    (("network", "nat_gateways"), "NAT gateways"),
    (("workers_lambda", "reserved_concurrency"), "worker concurrency"),
    (("workers_lambda", "memory_mb"), "worker memory (MB)"),
)
HALF_CENT = Decimal("0.005")


@dataclass(frozen=True)
class Change:
    """One thing that differs: what, before, after (as printed)."""

    what: str
    before: str
    after: str

    def line(self) -> str:
        return f"{self.what}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class PlanDiff:
    answers: tuple[Change, ...]
    lines: tuple[Change, ...]
    totals: tuple[Change, ...]
    sizing: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return bool(self.answers or self.lines or self.totals or self.sizing)

    def text(self) -> str:
        if not self.changed:
            return "plan: no change (same lines, totals and sizing)\n"
        parts = []
        for title, changes in (
            ("answers", self.answers),
            ("monthly cost by line", self.lines),
            ("totals", self.totals),
            ("sizing", self.sizing),
        ):
            if changes:
                parts.append(f"plan {title}:\n" + "".join(f"  {c.line()}\n" for c in changes))
        return "".join(parts)


def diff_plans(old: Mapping[str, Any], new: Mapping[str, Any]) -> PlanDiff:
    return PlanDiff(
        answers=tuple(_answers(old.get("answers") or {}, new.get("answers") or {})),
        lines=tuple(_lines(old.get("lines") or [], new.get("lines") or [])),
        totals=tuple(_totals(old.get("totals") or {}, new.get("totals") or {})),
        sizing=tuple(_sizing(old.get("sizing") or {}, new.get("sizing") or {})),
    )


def _answers(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    return [
        Change(name, _plain(old.get(name)), _plain(new.get(name)))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def _lines(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> list[Change]:
    before, after = {line["id"]: line for line in old}, {line["id"]: line for line in new}
    changes = []
    for line_id in [*after, *(i for i in before if i not in after)]:
        a, b = before.get(line_id), after.get(line_id)
        if a and b and _same_cost(a, b) and _same(a.get("unit_price"), b.get("unit_price")):
            continue
        label = f"{(b or a or {}).get('service', line_id)} | {(b or a or {}).get('item', '')}"
        # The unit price is shown when it is what changed (a corrected price, a new region).
        priced = bool(a and b) and not _same(a.get("unit_price"), b.get("unit_price"))  # type: ignore[union-attr]
        changes.append(Change(label, _cost(a, priced), _cost(b, priced)))
    return changes


def _cost(line: Mapping[str, Any] | None, with_unit_price: bool) -> str:
    if line is None:
        return "(none)"
    cost = money_range(_amount(line["cost_low"]) or 0, _amount(line["cost_high"]) or 0)
    price = _amount(line.get("unit_price"))
    if with_unit_price and price is not None:
        return f"{cost} ({unit_price(price)}/{line.get('unit', 'unit')})"
    return cost


def _same_cost(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _same(a["cost_low"], b["cost_low"]) and _same(a["cost_high"], b["cost_high"])


def _amount(value: Any) -> Decimal | None:
    """An amount from either JSON form (a number, or a decimal string), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            amount = Decimal(value)
        except InvalidOperation:
            return None
        return amount if amount.is_finite() else None
    return None


def _same(a: Any, b: Any) -> bool:
    x, y = _amount(a), _amount(b)
    if x is not None and y is not None:
        # Amounts within half a cent are the same (older plans kept unrounded costs); unit prices are exact.
        return abs(x - y) < HALF_CENT if max(abs(x), abs(y)) >= Decimal("0.01") else x == y
    return bool(a == b)


def _totals(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes = []
    for budget, title in BUDGETS:
        a, b = old.get(budget), new.get(budget)
        if a == b:
            continue
        if a and b and all(_same(a.get(k), b.get(k)) for k in ("low", "high", "limit", "verdict")):
            continue
        changes.append(Change(title, _total(a), _total(b)))
    if old.get("verdict") != new.get("verdict"):
        changes.append(Change("verdict", str(old.get("verdict", "(none)")), str(new.get("verdict", "(none)"))))
    return changes


def _total(total: Mapping[str, Any] | None) -> str:
    if not total:
        return "(none)"
    low, high, limit = (_amount(total.get(key)) or 0 for key in ("low", "high", "limit"))
    return f"{money_range(low, high)} of {money(limit)} ({total['verdict']})"


def _sizing(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes = [
        Change(label, _plain(_at(old, path)), _plain(_at(new, path)))
        for path, label in SIZING
        if _at(old, path) != _at(new, path)
    ]
    models_before = {u["use"]: u["model"] for u in old.get("ai") or []}
    models_after = {u["use"]: u["model"] for u in new.get("ai") or []}
    for use in sorted(set(models_before) | set(models_after)):
        if models_before.get(use) != models_after.get(use):
            changes.append(Change(f"{use} model", _plain(models_before.get(use)), _plain(models_after.get(use))))
    return changes


def _at(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _plain(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)
