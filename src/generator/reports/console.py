"""The terminal view of a plan (rich tables), the default of `betagen estimate`."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from generator.plan.catalog import stale_note
from generator.plan.plan import Plan
from generator.reports import tables

VERDICT_STYLE = {"fits": "green", "tight": "yellow", "at risk": "bold yellow", "over": "bold red"}
RIGHT_ALIGNED = {"Quantity / month", "Unit price", "Monthly"}


def print_plan(plan: Plan, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, width=max(140, Console(file=stream).width), highlight=False)

    def draw(title: str, table: tables.Table, sections: list[int] | None = None) -> None:
        out = Table(title=title, title_justify="left")
        for header in table.header:
            out.add_column(header, justify="right" if header in RIGHT_ALIGNED else "left")
        for index, row in enumerate(table.rows):
            if sections and index in sections:
                out.add_section()
            # Text, not markup: item names hold brackets that rich would read as style tags.
            out.add_row(*(Text(cell, style=VERDICT_STYLE.get(cell, "")) for cell in row))
        console.print(out)

    answers = plan.answers
    console.print(
        f"[bold]{plan.project.name}[/]: {answers['users']:,} users in {answers['aws_region']}, "
        f"tier [bold]{plan.sizing.tier.name}[/] ({plan.sizing.tier.why}) Prices as of {plan.catalog_as_of}."
    )
    infrastructure_lines = sum(1 for line in plan.lines if line.budget == "infrastructure")
    draw("Monthly budget lines (low-high)", tables.budget_lines(plan), sections=[infrastructure_lines])
    stale = stale_note(plan.lines, dt.date.today())
    if stale:
        console.print(Text(stale, style="yellow"))
    draw("Totals against the budgets", tables.totals(plan))
    draw("Worker hosting compared", tables.hosting(plan))
    draw("Scaling", tables.scaling(plan))
    if plan.capacity:
        draw("Capacity: the most users each worker serves", tables.capacity(plan))
    console.print("[bold]Corrections to the reference document[/]")
    for claim, _claimed, ours, verdict, reason in tables.corrections(plan).rows:
        console.print(Text(f"  - {claim} [{verdict}]" + (f" -> ours {ours}" if ours else "") + f": {reason}"))
    over = [o.worker for o in plan.advice.capacity] if plan.advice else []
    if over:  # a plan a worker cannot serve never "fits", whatever its budgets say
        console.print(f"[bold]Verdict: [{VERDICT_STYLE['over']}]over capacity ({', '.join(over)})[/][/]")
    else:
        console.print(f"[bold]Verdict: [{VERDICT_STYLE[plan.totals.verdict]}]{plan.totals.verdict}[/][/]")
