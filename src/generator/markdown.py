"""Markdown tables of a plan, for `betagen estimate --format markdown` and the rendered docs."""

from __future__ import annotations

from generator.formatting import money, money_range, percent, quantity, source_ids, unit_price
from generator.plan import Plan


def _table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def budget_table(plan: Plan, budget: str | None = None) -> str:
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
    return _table(["Service", "Item", "Quantity / month", "Unit price", "Monthly", "Source"], rows)


def totals_table(plan: Plan) -> str:
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
    return _table(["Budget", "Limit", "Monthly cost", "Headroom", "Used (high)", "Verdict"], rows)


def sources_table(plan: Plan) -> str:
    from generator.catalog import load_catalog

    catalog = load_catalog()
    cited = sorted({s for line in plan.lines for s in line.sources}, key=lambda s: (s[0], len(s), s))
    rows = [[sid, catalog.sources[sid].title, catalog.sources[sid].url] for sid in cited]
    return _table(["Id", "Source", "Address"], rows)


def hosting_table(plan: Plan) -> str:
    rows = [
        [
            option.name + (" (rendered)" if option.chosen and "rendered" not in option.name else ""),
            money_range(option.monthly_low, option.monthly_high),
            option.basis,
        ]
        for option in plan.hosting_comparison
    ]
    return _table(["Worker hosting", "Monthly", "Basis"], rows)


def scaling_table(plan: Plan) -> str:
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
        ]
        for row in plan.scaling
    ]
    header = ["Users", "Tier", "RDS", "Cache", "NAT", "QStash", "Infrastructure", "Azure AI"]
    return _table(header, rows)


def corrections_table(plan: Plan) -> str:
    rows = []
    for c in plan.corrections:
        claimed = "" if c.claimed_low is None else money_range(c.claimed_low, c.claimed_high or c.claimed_low)
        ours = "" if c.ours_low is None else money_range(c.ours_low, c.ours_high or c.ours_low)
        if c.id == "reserved_40":
            claimed, ours = "-40%", "-28% to -37% (1 yr), -53% (3 yr)"
        rows.append([c.claim, claimed, ours, c.reason])
    return _table(["The reference says", "Claimed", "Our figure", "Why"], rows)


def estimate_markdown(plan: Plan) -> str:
    answers = plan.answers
    parts = [
        f"# Monthly budget for {plan.project.name}",
        "",
        f"{answers['users']:,} users in {answers['aws_region']}, tier **{plan.sizing.tier.name}**; "
        f"prices as of {plan.catalog_as_of}. Low is the usage profile as given; high assumes "
        f"{answers['usage']['high_usage_factor']:g}x usage and billed QStash retries.",
        "",
        "## Budget lines",
        "",
        budget_table(plan),
        "",
        "## Totals",
        "",
        totals_table(plan),
        "",
        "## Worker hosting compared",
        "",
        hosting_table(plan),
        "",
        "## Scaling",
        "",
        scaling_table(plan),
        "",
        "## Corrections to the reference",
        "",
        corrections_table(plan),
        "",
        "## Sources",
        "",
        sources_table(plan),
        "",
    ]
    if plan.advice:
        parts[3:3] = ["", f"**{plan.advice.one_line()}**"]
    return "\n".join(parts)
