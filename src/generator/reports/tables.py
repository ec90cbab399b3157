"""The plan's tables as rows of text, drawn by both the terminal report and the markdown output."""

from __future__ import annotations

from typing import NamedTuple

from generator.plan.budget import Line
from generator.plan.catalog import load_catalog
from generator.plan.plan import Plan
from generator.reports.formatting import money, money_range, percent, quantity, source_ids, unit_price


class Table(NamedTuple):
    header: list[str]
    rows: list[list[str]]


def _quantity_and_price(line: Line) -> tuple[str, str]:
    """The quantity and unit price cells; a line whose low estimate is billed on another price (a cheaper
    QStash plan) shows each estimate's own."""
    low = line.low_price
    if low is None:
        return f"{quantity(line.quantity_low, line.quantity_high)} {line.unit}", unit_price(line.unit_price)
    return (
        f"{quantity(line.quantity_low, line.quantity_low)} {low.unit} (low); "
        f"{quantity(line.quantity_high, line.quantity_high)} {line.unit} (high)",
        f"{unit_price(low.unit_price)} (low); {unit_price(line.unit_price)} (high)",
    )


def budget_lines(plan: Plan, budget: str | None = None) -> Table:
    rows = [
        [
            line.service,
            line.item,
            *_quantity_and_price(line),
            money_range(line.cost_low, line.cost_high),
            source_ids(line.sources) + (" (derived)" if line.derivation else ""),
        ]
        for line in plan.lines
        if budget is None or line.budget == budget
    ]
    return Table(["Service", "Item", "Quantity / month", "Unit price", "Monthly", "Source"], rows)


def totals(plan: Plan) -> Table:
    rows = []
    for total in (plan.totals.infrastructure, plan.totals.ai):
        label = "Infrastructure (AWS + Vercel + Upstash)" if total.budget == "infrastructure" else "Azure AI"
        rows.append(
            [
                label,
                money(total.limit),
                money_range(total.low, total.high),
                money_range(total.headroom_high, total.headroom_low),
                percent(total.used_high_pct),
                total.verdict,
            ]
        )
    return Table(["Budget", "Limit", "Monthly cost", "Headroom", "Used (high)", "Verdict"], rows)


def hosting(plan: Plan) -> Table:
    rows = [
        [option.name, money_range(option.monthly_low, option.monthly_high), option.basis]
        for option in plan.hosting_comparison
    ]
    return Table(["Worker hosting", "Monthly", "Basis"], rows)


def scaling(plan: Plan) -> Table:
    rows = [
        [
            f"{row.users:,}",
            row.tier,
            row.rds,
            row.cache,
            str(row.nat_gateways),
            row.qstash_plan
            if row.qstash_plan_low == row.qstash_plan
            else f"{row.qstash_plan_low} (low), {row.qstash_plan} (high)",
            f"{money_range(row.infrastructure_low, row.infrastructure_high)} ({row.infrastructure_verdict})",
            f"{money_range(row.ai_low, row.ai_high)} ({row.ai_verdict})",
            f"over: {', '.join(row.over_capacity)}" if row.over_capacity else "fits",
            "; ".join(row.changes) if row.changes else "(your answers)" if row is plan.scaling[0] else "nothing",
        ]
        for row in plan.scaling
    ]
    header = ["Users", "Tier", "RDS", "Cache", "NAT", "QStash", "Infrastructure", "Azure AI", "Capacity"]
    return Table([*header, "What changes since the row above"], rows)


def capacity(plan: Plan) -> Table:
    users = plan.answers["users"]
    rows = [
        [
            worker,
            f"{c.max_users:,}",
            c.limiting.replace("_", " "),
            "over" if users > c.max_users else "fits",
            c.basis,
        ]
        for worker, c in plan.capacity.items()
    ]
    return Table(["Worker", "Max users", "Limited by", f"{users:,} users", "How"], rows)


def corrections(plan: Plan) -> Table:
    """Every claim of the reference, the same rows in every region; a row that cannot apply says why."""
    discounts = load_catalog().discounts
    rows = []
    for c in plan.corrections:
        claimed = "" if c.claimed_low is None else money_range(c.claimed_low, c.claimed_high or c.claimed_low)
        ours = "" if c.ours_low is None else money_range(c.ours_low, c.ours_high or c.ours_low)
        if c.id == "reserved_40":
            one, three = discounts["reserved_1yr"], discounts["reserved_3yr"]
            claimed = f"-{c.claimed_low or 0:.0f}%"
            ours = f"-{one.low:.0%} to -{one.high:.0%} (1 yr), -{three.high:.0%} (3 yr)"
        why = c.reason + (f" ({c.note})" if c.note else "")
        rows.append([c.claim, claimed, ours, c.verdict, why])
    return Table(["The reference says", "Claimed", "Our figure", "Verdict on the claim", "Why"], rows)


def sources(plan: Plan) -> Table:
    catalog = load_catalog()
    # The prices the lines use, and the lifecycle (retirement schedule) of the models the plan calls.
    lifecycle = {s for use in plan.sizing.ai for s in catalog.models[use.model].lifecycle.sources}
    # And the prices only a correction uses (the reference's "before" architecture).
    extra = {s for c in plan.corrections for s in c.sources}
    cited = sorted(
        {s for line in plan.lines for s in line.sources} | lifecycle | extra, key=lambda s: (s[0], len(s), s)
    )
    return Table(
        ["Id", "Source", "Address"], [[sid, catalog.sources[sid].title, catalog.sources[sid].url] for sid in cited]
    )
