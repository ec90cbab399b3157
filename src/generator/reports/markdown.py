"""Markdown tables of a plan, for `betagen estimate --format markdown` and the rendered docs."""

from __future__ import annotations

from generator.plan.plan import Plan
from generator.reports import tables


def _markdown(table: tables.Table) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(table.header) + " |", "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def budget_table(plan: Plan, budget: str | None = None) -> str:
    return _markdown(tables.budget_lines(plan, budget))


def totals_table(plan: Plan) -> str:
    return _markdown(tables.totals(plan))


def hosting_table(plan: Plan) -> str:
    return _markdown(tables.hosting(plan))


def scaling_table(plan: Plan) -> str:
    return _markdown(tables.scaling(plan))


def capacity_table(plan: Plan) -> str:
    return _markdown(tables.capacity(plan))


def corrections_table(plan: Plan) -> str:
    return _markdown(tables.corrections(plan))


def sources_table(plan: Plan) -> str:
    return _markdown(tables.sources(plan))


def estimate_markdown(plan: Plan) -> str:
    answers = plan.answers
    parts = [
        f"# Monthly budget for {plan.project.name}",
        "",
        f"{answers['users']:,} users in {answers['aws_region']}, tier **{plan.sizing.tier.name}**; "
        f"prices as of {plan.catalog_as_of}. Low is the usage profile as given; high assumes "
        f"{answers['usage']['high_usage_factor']:g}x usage and billed QStash retries, and for Azure AI every "
        "model call the workers' limits allow at its token caps.",
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
        "## Capacity",
        "",
        "The most users each worker serves: a fanned-out cron worker within its schedule (one run done before the "
        "next), the video worker the busiest hour's uploads within that hour, the roll-up within its message "
        "deadline.",
        "",
        capacity_table(plan),
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
