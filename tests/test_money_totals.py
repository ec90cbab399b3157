"""Every total equals the sum of the lines shown beside it, in every output: the terminal table, the JSON, the
markdown and the rendered docs (README's budget, totals and pie, PROS-CONS, the QStash guide).

Each output is parsed as a reader sees it (the printed amounts), never taken from the plan object, for the
three examples' answers and for each of them in other regions and at other user counts.
"""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy

from generator.plan.answers import Answers
from generator.plan.catalog import load_catalog
from generator.plan.plan import Plan, build_plan
from generator.reports.console import print_plan
from generator.reports.markdown import estimate_markdown

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/.copier-answers.yml"))
# A minus sign is a hyphen not right after a figure: "$1.00-$2.00" is a range, "-$4.34 to $0.33" negative.
AMOUNT = re.compile(r"((?<!\d)-)?\$([\d,]+\.\d\d)")
AI_SERVICE = "Azure AI "


def example_answers(path: Path) -> dict[str, Any]:
    return {k: v for k, v in yaml.safe_load(path.read_text()).items() if not str(k).startswith("_")}


def variants() -> list[tuple[str, dict[str, Any]]]:
    """Each example as answered, then moved to another region and user count (budgets as answered)."""
    regions = load_catalog().regions
    found = []
    for index, path in enumerate(EXAMPLES):
        answers = example_answers(path)
        name = path.parent.name
        found.append((name, answers))
        for step, users in enumerate((1, 501, 20_000)):
            region = regions[(index + step + 1) % len(regions)]
            found.append((f"{name}-{region}-{users}", {**answers, "aws_region": region, "users": users}))
    return found


VARIANTS = variants()


def amounts(cell: str) -> list[Decimal]:
    return [Decimal(sign + digits.replace(",", "")) for sign, digits in AMOUNT.findall(cell)]


def low_high(cell: str) -> tuple[Decimal, Decimal]:
    """A cell showing one amount or a range of two."""
    found = amounts(cell)
    assert len(found) in (1, 2), cell
    return found[0], found[-1]


def assert_totals_add_up(budget_rows: dict[str, list[str]], totals_rows: dict[str, list[str]]) -> None:
    """budget_rows: the Monthly cell of each line, per budget; totals_rows: each budget's totals row cells
    (Budget, Limit, Monthly cost, Headroom, ...)."""
    assert set(budget_rows) == set(totals_rows) == {"infrastructure", "ai"}
    for budget, cells in budget_rows.items():
        assert cells, budget
        low = sum((low_high(c)[0] for c in cells), Decimal(0))
        high = sum((low_high(c)[1] for c in cells), Decimal(0))
        row = totals_rows[budget]
        (limit,) = amounts(row[1])
        assert low_high(row[2]) == (low, high), (budget, row, low, high)
        # Headroom runs from the high estimate's to the low one's, both from the same shown figures.
        assert low_high(row[3]) == (limit - high, limit - low), (budget, row)
        assert "$-" not in row[3]


def markdown_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= {"-"} for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def table_with(tables: list[list[list[str]]], header: list[str]) -> list[list[list[str]]]:
    return [t[1:] for t in tables if t[0][: len(header)] == header]


def split_budget(rows: list[list[str]]) -> dict[str, list[str]]:
    """The Monthly cells of budget-line rows (Service, Item, Quantity, Unit price, Monthly, Source)."""
    found: dict[str, list[str]] = {"infrastructure": [], "ai": []}
    for row in rows:
        found["ai" if row[0].startswith(AI_SERVICE) else "infrastructure"].append(row[4])
    return found


def split_totals(rows: list[list[str]]) -> dict[str, list[str]]:
    return {("ai" if row[0] == "Azure AI" else "infrastructure"): row for row in rows}


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: build_plan(Answers.model_validate(answers)) for name, answers in VARIANTS}


def test_examples_are_all_checked() -> None:
    assert {p.parent.name for p in EXAMPLES} == {"reference", "growth", "small"}
    assert len({a["aws_region"] for _, a in VARIANTS}) >= 3 and len(VARIANTS) == 4 * len(EXAMPLES)


@pytest.mark.parametrize("name", [name for name, _ in VARIANTS])
def test_the_terminal_table_adds_up(name: str, plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell wraps onto a second row
    stream = io.StringIO()
    print_plan(plans[name], stream)
    text = stream.getvalue()
    budget_part = text.split("Monthly budget lines (low-high)")[1].split("Totals against the budgets")[0]
    totals_part = text.split("Totals against the budgets")[1].split("Worker hosting compared")[0]

    def rows(part: str) -> list[list[str] | None]:
        found: list[list[str] | None] = []
        for line in part.splitlines():
            if line.startswith("├"):
                found.append(None)  # the section between infrastructure and AI lines
            elif line.startswith("│"):
                found.append([c.strip() for c in line.strip().strip("│").split("│")])
        return found

    lines = rows(budget_part)
    split = lines.index(None)
    budget_rows = {
        "infrastructure": [r[4] for r in lines[:split] if r],
        "ai": [r[4] for r in lines[split + 1 :] if r],
    }
    assert len(budget_rows["infrastructure"]) + len(budget_rows["ai"]) == len(plans[name].lines)
    assert_totals_add_up(budget_rows, split_totals([r for r in rows(totals_part) if r]))


@pytest.mark.parametrize("name", [name for name, _ in VARIANTS])
def test_the_json_adds_up_to_the_cent_with_two_decimal_strings(name: str, plans: dict[str, Plan]) -> None:
    data = json.loads(plans[name].model_dump_json())
    totals = data["totals"]
    for budget in ("infrastructure", "ai"):
        lines = [line for line in data["lines"] if line["budget"] == budget]
        for line in lines:
            assert re.fullmatch(r"\d+\.\d\d", line["cost_low"]) and re.fullmatch(r"\d+\.\d\d", line["cost_high"])
        total = totals[budget]
        for key in ("limit", "low", "high", "headroom_low", "headroom_high"):
            assert re.fullmatch(r"-?\d+\.\d\d", total[key]), (key, total[key])
        for end in ("low", "high"):
            assert Decimal(total[end]) == sum((Decimal(line[f"cost_{end}"]) for line in lines), Decimal(0))
            assert Decimal(total[f"headroom_{end}"]) == Decimal(total["limit"]) - Decimal(total[end])
    assert Decimal(totals["all_low"]) == Decimal(totals["infrastructure"]["low"]) + Decimal(totals["ai"]["low"])
    assert Decimal(totals["all_high"]) == Decimal(totals["infrastructure"]["high"]) + Decimal(totals["ai"]["high"])


@pytest.mark.parametrize("name", [name for name, _ in VARIANTS])
def test_the_markdown_adds_up(name: str, plans: dict[str, Plan]) -> None:
    tables = markdown_tables(estimate_markdown(plans[name]))
    (lines,) = table_with(tables, ["Service", "Item", "Quantity / month", "Unit price", "Monthly"])
    (totals,) = table_with(tables, ["Budget", "Limit", "Monthly cost", "Headroom"])
    assert len(lines) == len(plans[name].lines)
    assert_totals_add_up(split_budget(lines), split_totals(totals))


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    found = {}
    for path in EXAMPLES:
        dest = tmp_path_factory.mktemp(path.parent.name) / "beta"
        answers = example_answers(path)
        run_copy(str(ROOT), str(dest), data=answers, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
        found[path.parent.name] = dest
    return found


@pytest.mark.parametrize("name", [p.parent.name for p in EXAMPLES])
def test_the_rendered_docs_add_up(name: str, renders: dict[str, Path]) -> None:
    root = renders[name]
    readme = (root / "README.md").read_text()
    tables = markdown_tables(readme)
    infrastructure, ai = table_with(tables, ["Service", "Item", "Quantity / month", "Unit price", "Monthly"])
    (totals,) = table_with(tables, ["Budget", "Limit", "Monthly cost", "Headroom"])
    assert_totals_add_up(
        {"infrastructure": [r[4] for r in infrastructure], "ai": [r[4] for r in ai]}, split_totals(totals)
    )

    # The pie's slices are each service's low lines, as the tables show them.
    by_service: dict[str, Decimal] = {}
    for row in [*infrastructure, *ai]:
        by_service[row[0]] = by_service.get(row[0], Decimal(0)) + low_high(row[4])[0]
    pie = dict(re.findall(r'^\s+"([^"]+)" : ([\d.]+)$', readme, re.MULTILINE))
    assert pie and {s: Decimal(v) for s, v in pie.items()} == {s: v for s, v in by_service.items() if v}

    # PROS-CONS: the NAT gateway's fixed cost is the sum of its lines' low figures; the budgets the totals'.
    pros = (root / "PROS-CONS.md").read_text()
    nat = next(line for line in pros.splitlines() if line.startswith("| NAT gateway is a fixed cost"))
    nat_rows = [low_high(r[4])[0] for r in infrastructure if r[0] == "NAT gateway"]
    assert len(nat_rows) == 3 and amounts(nat)[0] == sum(nat_rows, Decimal(0))
    infra_total = split_totals(totals)["infrastructure"][2]
    assert f"Infrastructure {infra_total} of" in " ".join(pros.split())

    # The QStash guide's monthly figure is the QStash line's.
    guide = " ".join((root / "WORKERS-QSTASH-GUIDE.md").read_text().split())
    (qstash,) = [r[4] for r in infrastructure if r[0] == "Upstash QStash"]
    assert f"for {qstash} a month" in guide
