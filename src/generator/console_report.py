"""The terminal view of a plan (rich tables), the default of `betagen estimate`."""

from __future__ import annotations

from typing import TextIO

from generator.formatting import money, money_range, percent, quantity, source_ids, unit_price
from generator.plan import Plan

VERDICT_STYLE = {"fits": "green", "tight": "yellow", "over": "bold red"}


def print_plan(plan: Plan, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, width=max(140, Console(file=stream).width), highlight=False)
    answers = plan.answers
    console.print(
        f"[bold]{plan.project.name}[/]: {answers['users']:,} users in {answers['aws_region']}, "
        f"tier [bold]{plan.sizing.tier.name}[/] ({plan.sizing.tier.why}) Prices as of {plan.catalog_as_of}."
    )
    lines = Table(title="Monthly budget lines (low-high)", title_justify="left", show_lines=False)
    for header, justify in (
        ("Service", "left"),
        ("Item", "left"),
        ("Quantity / month", "right"),
        ("Unit price", "right"),
        ("Monthly", "right"),
        ("Source", "left"),
    ):
        lines.add_column(header, justify=justify)  # type: ignore[arg-type]
    for budget in ("infrastructure", "ai"):
        for line in (x for x in plan.lines if x.budget == budget):
            lines.add_row(
                line.service,
                line.item,
                f"{quantity(line.quantity_low, line.quantity_high)} {line.unit}",
                unit_price(line.unit_price),
                money_range(line.cost_low, line.cost_high),
                source_ids(line.sources) + (" [dim](derived)[/]" if line.derivation else ""),
            )
        lines.add_section()
    console.print(lines)

    totals = Table(title="Totals against the budgets", title_justify="left")
    for header in ("Budget", "Limit", "Monthly cost", "Headroom", "Used (high)", "Verdict"):
        totals.add_column(header)
    for total in (plan.totals.infrastructure, plan.totals.ai):
        label = "Infrastructure (AWS + Vercel + Upstash)" if total.budget == "infrastructure" else "Azure AI"
        totals.add_row(
            label,
            money(total.limit),
            money_range(total.low, total.high),
            money_range(total.headroom_high, total.headroom_low),
            percent(total.used_high_pct),
            f"[{VERDICT_STYLE[total.verdict]}]{total.verdict}[/]",
        )
    console.print(totals)

    hosting = Table(title="Worker hosting compared", title_justify="left")
    for header in ("Option", "Monthly", "Basis"):
        hosting.add_column(header)
    for option in plan.hosting_comparison:
        hosting.add_row(option.name, money_range(option.monthly_low, option.monthly_high), option.basis)
    console.print(hosting)

    scaling = Table(title="Scaling", title_justify="left")
    for header in ("Users", "Tier", "RDS", "Cache", "NAT", "Infrastructure", "Azure AI"):
        scaling.add_column(header)
    for row in plan.scaling:
        scaling.add_row(
            f"{row.users:,}",
            row.tier,
            row.rds,
            row.cache,
            str(row.nat_gateways),
            f"{money_range(row.infrastructure_low, row.infrastructure_high)} {row.infrastructure_verdict}",
            f"{money_range(row.ai_low, row.ai_high)} {row.ai_verdict}",
        )
    console.print(scaling)

    console.print("[bold]Corrections to the reference document[/]")
    for c in plan.corrections:
        ours = f" -> ours {money_range(c.ours_low, c.ours_high or c.ours_low)}" if c.ours_low is not None else ""
        console.print(f"  - {c.claim}{ours}: {c.reason}")
    console.print(f"[bold]Verdict: [{VERDICT_STYLE[plan.totals.verdict]}]{plan.totals.verdict}[/][/]")
