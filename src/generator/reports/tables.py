"""The plan's tables as rows of text, drawn by both the terminal report and the markdown output."""

from __future__ import annotations

from typing import NamedTuple

from generator.plan.catalog import load_catalog
from generator.plan.plan import Plan
from generator.reports.formatting import money, money_range, percent, quantity, source_ids, unit_price


class Table(NamedTuple):
    header: list[str]
    rows: list[list[str]]


def budget_lines(plan: Plan, budget: str | None = None) -> Table:
    rows = [
        [
            line.service,
            line.item,
            f"{quantity(line.quantity_low, line.quantity_high)} {line.unit}",
            unit_price(line.unit_price),
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
            row.qstash_plan,
            f"{money_range(row.infrastructure_low, row.infrastructure_high)} ({row.infrastructure_verdict})",
            f"{money_range(row.ai_low, row.ai_high)} ({row.ai_verdict})",
            f"over: {', '.join(row.over_capacity)}" if row.over_capacity else "fits",
        ]
        for row in plan.scaling
    ]
    return Table(["Users", "Tier", "RDS", "Cache", "NAT", "QStash", "Infrastructure", "Azure AI", "Capacity"], rows)


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
    rows = []
    for c in plan.corrections:
        claimed = "" if c.claimed_low is None else money_range(c.claimed_low, c.claimed_high or c.claimed_low)
        ours = "" if c.ours_low is None else money_range(c.ours_low, c.ours_high or c.ours_low)
        if c.id == "reserved_40":
            claimed, ours = "-40%", "-28% to -37% (1 yr), -53% (3 yr)"
        rows.append([c.claim, claimed, ours, c.reason])
    return Table(["The reference says", "Claimed", "Our figure", "Why"], rows)


def sources(plan: Plan) -> Table:
    catalog = load_catalog()
    # The prices the lines use, and the lifecycle (retirement schedule) of the models the plan calls.
    lifecycle = {s for use in plan.sizing.ai for s in catalog.models[use.model].lifecycle.sources}
    cited = sorted({s for line in plan.lines for s in line.sources} | lifecycle, key=lambda s: (s[0], len(s), s))
    return Table(
        ["Id", "Source", "Address"], [[sid, catalog.sources[sid].title, catalog.sources[sid].url] for sid in cited]
    )
