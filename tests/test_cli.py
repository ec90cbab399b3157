"""`betagen estimate` as a user runs it: typer's runner for each path, one real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli.commands import EXIT_AT_RISK, EXIT_OVER_BUDGET, app, main
from generator.plan.answers import Answers
from generator.plan.core import price_plan

runner = CliRunner()
REFERENCE = ["estimate", "--users", "50", "--region", "us-east-1", "--aws-budget", "300", "--ai-budget", "1000"]


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_reference_table_shows_every_line_and_fits() -> None:
    result = runner.invoke(app, REFERENCE, terminal_width=200)
    assert result.exit_code == 0, result.output
    for text in (
        "Vercel",
        "db.t4g.small",
        "cache.t4g.small",
        "150 GB",
        "Lambda (cron)",
        "QStash",
        "NAT gateway",
        "Secrets Manager",
        "CloudWatch",
        "DeepSeek-V3.2",
        "Phi-4-multimodal-instruct",
        "fits",
    ):
        assert text in result.output, text


def test_json_carries_every_line_and_total() -> None:
    result = runner.invoke(app, [*REFERENCE, "--format", "json"])
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert len(plan["lines"]) >= 20
    assert {"infrastructure", "ai", "all_low", "all_high", "verdict"} <= set(plan["totals"])
    # Amounts are strings with exactly two decimals, and each total is the exact sum of its lines.
    totals = plan["totals"]
    assert totals["infrastructure"]["limit"] == "300.00"
    amounts = [line[key] for line in plan["lines"] for key in ("cost_low", "cost_high")]
    amounts += [totals[b][k] for b in ("infrastructure", "ai") for k in ("limit", "low", "high", "headroom_low")]
    assert all(re.fullmatch(r"-?\d+\.\d\d", amount) for amount in amounts), amounts
    for budget in ("infrastructure", "ai"):
        for end in ("low", "high"):
            lines = [Decimal(line[f"cost_{end}"]) for line in plan["lines"] if line["budget"] == budget]
            assert sum(lines, Decimal(0)) == Decimal(totals[budget][end])
    assert Decimal(totals["all_low"]) == Decimal(totals["infrastructure"]["low"]) + Decimal(totals["ai"]["low"])


def test_markdown_is_a_table() -> None:
    result = runner.invoke(app, [*REFERENCE, "--format", "markdown"])
    assert result.exit_code == 0
    table = [line for line in result.stdout.splitlines() if line.startswith("| Vercel")]
    assert table and table[0].count("|") == 7
    assert "|---|---|---|---|---|---|" in result.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--users", "0"], "users"),
        (["--region", "mars-1"], "aws_region"),
        (["--aws-budget", "-5"], "aws_budget"),
        (["--usage", "nonsense"], "usage"),
        (["--usage", "storage_gb_per_user=-3"], "usage.storage_gb_per_user"),
        (["--workers", "video_processing,mining"], "workers"),
        (["--alerts-model", "DeepSeek-R1"], "alerts_model"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(
    args: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["estimate", *args], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and f"error: {field}: " in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("users: [1, 2\n", "line"), ("- just\n- a list\n", "expected a mapping"), ("users: 0\n", "users:")],
)
def test_malformed_answers_file_exits_2(
    tmp_path: Path, content: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(content)
    code, _, err = run_main(["estimate", "--answers", str(answers)], capsys)
    assert code == 2 and fragment in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--aws-budget", "inf"], "aws_budget: 'inf' is not valid (allowed: a finite number > 0)"),
        (["--ai-budget", "nan"], "ai_budget: 'nan' is not valid (allowed: a finite number >= 0)"),
        (["--budget-alert-thresholds", "abc"], "budget_alert_thresholds: 'abc' is not valid (allowed: a list of"),
        (["--format", "yaml"], "--format: 'yaml' is not allowed (allowed: table, json, markdown)"),
    ],
)
def test_each_error_line_names_what_is_allowed(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["estimate", *args], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"betagen: error: {expected}") and err.count("\n") == 1


def test_a_retired_model_is_refused_naming_its_successor(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["estimate", "--alerts-model", "DeepSeek-R1"], capsys)
    assert (code, out) == (2, "")
    assert "retired on 2026-08-13" in err and "DeepSeek-V4-Pro" in err and "allowed: DeepSeek-V3.2" in err


def test_missing_answers_file_and_unknown_option_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["estimate", "--answers", "/nonexistent/answers.yml"], capsys)
    assert code == 2 and "No such file" in err
    code, _, err = run_main(["estimate", "--colour", "blue"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--colour" in err


def test_flags_override_the_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("_commit: v1\nusers: 10\naws_region: eu-west-3\nusage:\n  storage_gb_per_user: 1\n")
    result = runner.invoke(app, ["estimate", "--answers", str(answers), "--users", "20", "--format", "json"])
    plan = json.loads(result.stdout)
    assert plan["answers"]["users"] == 20 and plan["answers"]["aws_region"] == "eu-west-3"
    assert plan["sizing"]["s3"]["storage_gb"]["low"] == 20


def test_over_budget_exits_3_naming_the_overrun_and_the_change(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["estimate", "--users", "5000", "--aws-budget", "100", "--format", "json"], capsys)
    assert code == 3
    assert json.loads(out)["totals"]["verdict"] == "over"
    assert err.count("\n") == 1
    assert "exceeds the aws_budget of $100.00" in err and "Cheapest change that fits the high estimate: --users" in err


def test_at_risk_exits_5_and_never_says_fits_or_tight(capsys: pytest.CaptureFixture[str]) -> None:
    # An AI budget between this plan's low and high estimates: the low one fits, the high one does not.
    ai = price_plan(Answers(users=5, ai_budget=100_000)).totals.ai
    budget = ((ai.low + ai.high) / 2).quantize(Decimal("0.01"))
    assert ai.low < budget < ai.high
    code, out, err = run_main(["estimate", "--users", "5", "--ai-budget", str(budget)], capsys)
    assert code == EXIT_AT_RISK == 5 and EXIT_OVER_BUDGET == 3
    row = next(line for line in out.splitlines() if "Azure AI" in line and "%" in line)
    assert "at risk" in row and "fits" not in row and "tight" not in row
    assert "Verdict: at risk" in out and "Verdict: fits" not in out
    # Headroom from the high end to the low, the negative one as -$x (never $-x).
    assert f"-${ai.high - budget:,.2f} to ${budget - ai.low:,.2f}" in row and "$-" not in out
    assert err.count("\n") == 1 and err.startswith("betagen: at risk: ai ")
    assert f"exceeds the ai_budget of ${budget:,.2f} by ${ai.high - budget:,.2f}" in err
    code, out, _ = run_main(["estimate", "--users", "5", "--ai-budget", str(budget), "--format", "json"], capsys)
    plan = json.loads(out)
    assert code == 5 and plan["totals"]["ai"]["verdict"] == "at risk" and plan["totals"]["verdict"] == "at risk"
    assert plan["advice"]["overruns"] == [] and len(plan["advice"]["at_risk"]) == 1


def test_the_root_help_documents_every_exit_code() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "300"})
    text = " ".join(result.output.replace("│", " ").split())
    for code in ("0 fits", "2 invalid input", "3 over budget or over capacity", "4 update left conflicts", "5 at risk"):
        assert code in text, code


def test_help_explains_every_option_with_its_default() -> None:
    result = runner.invoke(app, ["estimate", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    for option, default in (
        ("--users", "default: 50"),
        ("--region", "default: us-east-1"),
        ("--aws-budget", "default: 300"),
        ("--ai-budget", "default: 1000"),
        ("--cache-engine", "default: valkey"),
        ("--workers", "video_processing,content_trends"),
        ("--trends-model", "default: DeepSeek-V3"),
        ("--usage", "storage_gb_per_user (3)"),
        ("--answers", ""),
        ("--format", ""),
    ):
        assert option in text and default in text, option


def test_real_subprocess_without_copier_or_boto3() -> None:
    code = (
        "import sys, runpy; sys.argv = ['betagen', 'estimate', '--format', 'json'];\n"
        "try:\n    runpy.run_module('generator', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('copier', 'boto3', 'botocore'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["verdict"] == "fits"
    console = subprocess.run(
        [str(Path(sys.executable).with_name("betagen")), *REFERENCE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert console.returncode == 0 and "db.t4g.small" in console.stdout


def test_update_help_documents_the_dry_run_and_the_conflict_exit_code() -> None:
    result = runner.invoke(app, ["update", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    assert "--dry-run" in text and "--vcs-ref" in text and "the exit code is 4" in text


def test_update_of_a_folder_copier_did_not_render_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["update", str(tmp_path), "--dry-run"], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "has no .copier-answers.yml" in err and "Traceback" not in err


def test_set_takes_a_list_answer_as_commas_or_yaml() -> None:
    from generator.cli.commands import parse_set_options

    assert parse_set_options(["workers=data_processing"]) == {"workers": ["data_processing"]}
    assert parse_set_options(["workers=data_processing, alert_checker"])["workers"] == [
        "data_processing",
        "alert_checker",
    ]
    assert parse_set_options(["workers=[video_processing]"]) == {"workers": ["video_processing"]}
    assert parse_set_options(["budget_alert_thresholds=50,80"]) == {"budget_alert_thresholds": [50, 80]}
    assert parse_set_options(["users=500"]) == {"users": 500}
