"""The answer `custom_workers`: validated in one line, priced like the reference workers, in app/plan.json.

The issue's example names DeepSeek-R1, which the catalog lists as retired (refused, tested below); the priced
examples use available models (Phi-4, which no reference worker uses, so its spend-guard entry is the custom
worker's alone).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy
from typer.testing import CliRunner

from generator.cli.commands import app, main
from generator.errors import AnswerError
from generator.plan.answers import MAX_USERS, Answers, parse_answers
from generator.plan.catalog import Catalog
from generator.plan.cron import CronError, parse_cron, runs_per_month
from generator.plan.plan import Plan, build_plan
from generator.plan.rules import Rules
from generator.render.project import template_root

BIN = Path(sys.executable).parent
BETAGEN = str(BIN / "betagen")
runner = CliRunner()

# An invoice run every day at 08:00 UTC, one model call per user per day expected (20 a month: weekdays).
INVOICES: dict[str, Any] = {
    "name": "invoice_sender",
    "trigger": "cron",
    "schedule": "0 8 * * *",
    "model": "Phi-4",
    "calls_per_user_per_month": 20,
    "input_tokens": 800,
    "output_tokens": 200,
}
SIGNUPS: dict[str, Any] = {
    "name": "score_signup",
    "trigger": "event",
    "calls_per_user_per_month": 3,
    "payload_example": {"user_id": "u-1", "plan": "pro"},
}


def with_custom(*workers: dict[str, Any], **answers: Any) -> Answers:
    return parse_answers({**answers, "custom_workers": list(workers)})


def line(plan: Plan, line_id: str) -> Any:
    return next(x for x in plan.lines if x.id == line_id)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- validation: one line naming the item, the key and what is allowed -------------------------------------

BAD: dict[str, tuple[Any, str]] = {
    "bad cron": (
        [{**INVOICES, "schedule": "0 8 * *"}],
        "custom_workers[0].schedule: 'invoice_sender': '0 8 * *' has 4 fields, a cron line has 5 (allowed: 5 fields",
    ),
    "cron out of range": (
        [{**INVOICES, "schedule": "0 25 * * *"}],
        "custom_workers[0].schedule: 'invoice_sender': hour '25': '25' is not a number from 0 to 23",
    ),
    "cron that never fires": (
        [{**INVOICES, "schedule": "0 8 31 2 *"}],
        "custom_workers[0].schedule: 'invoice_sender': '0 8 31 2 *' never fires",
    ),
    "cron without schedule": (
        [{k: v for k, v in INVOICES.items() if k != "schedule"}],
        "custom_workers[0].schedule: 'invoice_sender': a cron worker needs a schedule (allowed: 5 fields",
    ),
    "event with schedule": (
        [{**SIGNUPS, "schedule": "0 8 * * *"}],
        "custom_workers[0].schedule: 'score_signup': an event worker has no schedule",
    ),
    "duplicate": (
        [SIGNUPS, {**SIGNUPS, "calls_per_user_per_month": 1}],
        "custom_workers[1].name: 'score_signup' is listed twice (allowed: a unique name)",
    ),
    "reference name": (
        [{**SIGNUPS, "name": "alert_checker"}],
        "custom_workers[0].name: 'alert_checker' is a reference worker's name or model use (allowed: a name other "
        "than video_processing",
    ),
    "not snake_case": (
        [{**SIGNUPS, "name": "Score-Signup"}],
        "custom_workers[0].name: 'Score-Signup' is not a worker name (allowed: snake_case",
    ),
    "failure route": (
        [{**SIGNUPS, "name": "failed"}],
        "custom_workers[0].name: 'failed': its route /workers/failed is the app's failure route",
    ),
    "unknown model": (
        [{**INVOICES, "model": "GPT-9"}],
        "custom_workers[0].model: 'invoice_sender': 'GPT-9' is not in the price catalog (allowed: DeepSeek-V3.2",
    ),
    "retired model": (
        [{**INVOICES, "model": "DeepSeek-R1"}],
        "custom_workers[0].model: 'invoice_sender': 'DeepSeek-R1' was retired on",
    ),
    "negative volume": (
        [{**SIGNUPS, "calls_per_user_per_month": -1}],
        "custom_workers[0].calls_per_user_per_month: 'score_signup': -1 is not valid (allowed: a finite number >= 0)",
    ),
    "negative tokens": (
        [{**INVOICES, "input_tokens": -5}],
        "custom_workers[0].input_tokens: 'invoice_sender': -5 is not valid (allowed: a whole number >= 0)",
    ),
    "model without tokens": (
        [{**INVOICES, "output_tokens": 0}],
        "custom_workers[0].output_tokens: 'invoice_sender': a worker that calls a model needs its output tokens",
    ),
    "tokens without model": (
        [{**SIGNUPS, "input_tokens": 100}],
        "custom_workers[0].input_tokens: 'score_signup': tokens without a model (allowed: 0, or set model)",
    ),
    "more calls than runs": (
        [{**INVOICES, "calls_per_user_per_month": 31}],
        "custom_workers[0].calls_per_user_per_month: 'invoice_sender': 31 calls a user a month is more than one a "
        "run ('0 8 * * *' runs 30.42 times a month) (allowed: at most 30.42)",
    ),
    "cron calls without a model": (
        [{k: v for k, v in INVOICES.items() if k not in ("model", "input_tokens", "output_tokens")}],
        "custom_workers[0].calls_per_user_per_month: 'invoice_sender': a cron worker without a model sends one "
        "message a run; calls_per_user_per_month counts model calls (allowed: 0, or set model)",
    ),
    "bad trigger": (
        [{**SIGNUPS, "trigger": "hourly"}],
        "custom_workers[0].trigger: 'score_signup': 'hourly' is not valid (allowed: cron, event)",
    ),
    "unknown key": (
        [{**SIGNUPS, "timeout": 30}],
        "custom_workers[0].timeout: 'score_signup': is not a key of a custom worker (allowed: name, trigger",
    ),
    "payload too large": (
        [{**SIGNUPS, "payload_example": {"text": "x" * 20_000}}],
        "custom_workers[0].payload_example: 'score_signup': its JSON is 20,011 bytes, above the custom workers' "
        "payload limit (allowed: at most 16,384 bytes)",
    ),
    "payload not JSON": (
        [{**SIGNUPS, "payload_example": {"when": dt.date(2026, 1, 1)}}],
        "custom_workers[0].payload_example: 'score_signup': is not JSON",
    ),
    "not a list": ("invoice_sender", "custom_workers: 'invoice_sender' is not a list"),
    "item not a mapping": (["invoice_sender"], "custom_workers[0]: 'invoice_sender' is not a mapping"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_item_is_one_line_naming_it(case: str) -> None:
    value, expected = BAD[case]
    with pytest.raises(AnswerError) as raised:
        parse_answers({"custom_workers": value})
    text = str(raised.value)
    assert text.startswith(expected), text
    assert "\n" not in text


@pytest.mark.parametrize("case", ["bad cron", "duplicate", "reference name", "retired model", "negative volume"])
def test_estimate_refuses_a_bad_item_with_exit_2(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    value, expected = BAD[case]
    with pytest.raises(SystemExit) as exited:
        main(["estimate", "--set", f"custom_workers={json.dumps(value)}"])
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert err.startswith(f"betagen: error: {expected}") and err.count("\n") == 1
    assert out == ""


@pytest.mark.slow
@pytest.mark.parametrize("case", ["bad cron", "duplicate", "reference name", "retired model", "negative volume"])
def test_new_refuses_a_bad_item_and_writes_nothing(case: str, tmp_path: Path) -> None:
    value, expected = BAD[case]
    dest = tmp_path / "beta"
    done = subprocess.run(
        [BETAGEN, "new", str(dest), "--defaults", "--set", f"custom_workers={json.dumps(value)}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"betagen: error: {expected}") and done.stderr.count("\n") == 1
    assert not dest.exists()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_update_refuses_a_bad_item_and_writes_nothing(tmp_path: Path) -> None:
    """`betagen update --set custom_workers=...` prices with the new template version: a copy of this one."""
    repo, root = tmp_path / "template-repo", template_root()
    repo.mkdir()
    shutil.copy(root / "copier.yml", repo)
    for folder in ("template", "hooks", "src/generator"):
        shutil.copytree(root / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "v1")
    git(repo, "tag", "v1")
    dest = tmp_path / "beta"
    run_copy(str(repo), str(dest), defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "rendered")
    before = git(dest, "rev-parse", "HEAD")
    value, expected = BAD["bad cron"]
    done = subprocess.run(
        [BETAGEN, "update", ".", "--set", f"custom_workers={json.dumps(value)}"],
        cwd=dest,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    # Priced by the version it updates to, which the line names.
    assert done.stderr.startswith(f"betagen: error: template v1: {expected}") and done.stderr.count("\n") == 1
    assert git(dest, "status", "--porcelain") == "" and git(dest, "rev-parse", "HEAD") == before


def test_the_answer_takes_yaml_from_the_command_line() -> None:
    """`--set` reads YAML, the flow style the help shows."""
    text = (
        'custom_workers=[{name: invoice_sender, trigger: cron, schedule: "0 8 * * *", model: Phi-4, '
        "calls_per_user_per_month: 20, input_tokens: 800, output_tokens: 200}]"
    )
    result = runner.invoke(app, ["estimate", "--set", text, "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["answers"]["custom_workers"][0] == {
        **INVOICES,
        "calls_per_user_per_month": 20.0,
        "payload_example": None,
    }
    assert {"ai_invoice_sender_input", "ai_invoice_sender_output"} <= {x["id"] for x in plan["lines"]}


# --- cron: syntax and runs a month ------------------------------------------------------------------------


def days_in_cycle(matches: Any) -> int:
    """Days of the 400-year Gregorian cycle for which `matches(date)` holds, counted with datetime."""
    day, end, count = dt.date(2000, 1, 1), dt.date(2400, 1, 1), 0
    while day < end:
        count += bool(matches(day))
        day += dt.timedelta(days=1)
    return count


MONTH_DAYS = Fraction(730, 24)  # the plan's 730-hour month


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/15 * * * *", Fraction(4 * 24) * MONTH_DAYS),
        ("0 8 * * *", MONTH_DAYS),
        ("0,30 8-9 * * *", 4 * MONTH_DAYS),
        # 146,097 days are exactly 20,871 weeks: weekdays are 5/7 of the days.
        ("0 9 * * MON-FRI", Fraction(5, 7) * MONTH_DAYS),
        ("0 9 * * 1-5", Fraction(5, 7) * MONTH_DAYS),
        ("0 0 * * 0,7", Fraction(1, 7) * MONTH_DAYS),
        # 4,800 months in the cycle.
        ("0 0 1 * *", Fraction(4800, 146_097) * MONTH_DAYS),
        ("0 0 1 JAN,jul *", Fraction(800, 146_097) * MONTH_DAYS),
        ("0 0 */10 * *", Fraction(days_in_cycle(lambda d: d.day in (1, 11, 21, 31)), 146_097) * MONTH_DAYS),
        # Both day fields restricted: either matches (Vixie cron).
        ("0 0 1 * MON", Fraction(days_in_cycle(lambda d: d.day == 1 or d.weekday() == 0), 146_097) * MONTH_DAYS),
        ("0 0 29 2 *", Fraction(97, 146_097) * MONTH_DAYS),
    ],
)
def test_runs_a_month_are_the_exact_average(expression: str, expected: Fraction) -> None:
    assert runs_per_month(parse_cron(expression)) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "5-1 * * * *",
        "*/0 * * * *",
        "1/x * * * *",
        "MON * * * *",
        "0 0 30 2 *",
    ],
)
def test_bad_cron_lines_are_refused(expression: str) -> None:
    with pytest.raises(CronError):
        parse_cron(expression)


def test_shortest_gap_between_runs() -> None:
    assert parse_cron("*/15 * * * *").shortest_gap_minutes() == 15
    assert parse_cron("0 8,20 * * *").shortest_gap_minutes() == 12 * 60
    assert parse_cron("0 1,23 * * *").shortest_gap_minutes() == 2 * 60  # 23:00 to the next day's 01:00
    assert parse_cron("0 8 * * MON").shortest_gap_minutes() == 24 * 60  # a lower bound: the next run is a week on


def test_february_29_is_counted_as_the_calendar_does() -> None:
    leap_years = sum(calendar.isleap(y) for y in range(2000, 2400))
    assert leap_years == 97
    assert runs_per_month(parse_cron("0 0 29 2 *")) == Fraction(leap_years, 146_097) * MONTH_DAYS


# --- pricing ---------------------------------------------------------------------------------------------


def fanout_chunk(rules: Rules, usage: Any) -> int:
    """The reference cron workers' chunk rule for one model call per user: as many users as end by the message
    deadline with every call at the p95 latency, at most the fan-out cap."""
    deadline = math.floor(rules.constants.worker_timeout_seconds * rules.constants.message_deadline_ratio)
    fits = math.floor((deadline - usage.job_base_seconds) / usage.model_latency_p95_seconds)
    return max(1, min(fits, rules.constants.fanout_max_chunk_size))


def test_a_cron_worker_with_a_model_adds_its_lines_and_volumes(catalog: Catalog, rules: Rules) -> None:
    base, plan = build_plan(Answers()), build_plan(with_custom(INVOICES))
    usage, users, retries = Answers().usage, 50, rules.constants.qstash_retries
    runs = float(MONTH_DAYS)  # every day
    calls_low = users * INVOICES["calls_per_user_per_month"]
    # High: the usage's high factor, at most one call per user a run (20 x 2 = 40 > 30.42 runs).
    calls_high = users * min(INVOICES["calls_per_user_per_month"] * usage.high_usage_factor, runs)
    assert calls_high == users * runs

    # Exactly two more lines, both in the AI budget, priced at the catalog's Phi-4 rates.
    assert {x.id for x in plan.lines} - {x.id for x in base.lines} == {
        "ai_invoice_sender_input",
        "ai_invoice_sender_output",
    }
    for direction, tokens in (("input", INVOICES["input_tokens"]), ("output", INVOICES["output_tokens"])):
        got, price = line(plan, f"ai_invoice_sender_{direction}"), catalog.model_price("Phi-4", direction)  # type: ignore[arg-type]
        assert got.budget == "ai" and got.service == "Azure AI Phi-4" and got.price_id == f"azure.Phi-4.{direction}"
        # Quantities are shown (and priced) to 6 decimals.
        assert got.quantity_low == round(calls_low * tokens / 1e6, 6)
        assert got.quantity_high == round(calls_high * tokens / 1e6, 6)
        assert got.cost_low == cents(Decimal(repr(round(calls_low * tokens / 1e6, 6))) * price.usd)
        assert got.cost_high == cents(Decimal(repr(round(calls_high * tokens / 1e6, 6))) * price.usd)

    # QStash: fanned out as content_trends, a tick and one message per chunk of users a run, retries billed at
    # the high estimate.
    chunk = fanout_chunk(rules, usage)
    assert plan.sizing.worker_limits["invoice_sender"].chunk_size == chunk
    deliveries = runs * (1 + math.ceil(users / chunk))
    assert plan.sizing.custom_workers["invoice_sender"].messages.low == pytest.approx(deliveries)
    delta = plan.sizing.qstash.messages.low - base.sizing.qstash.messages.low
    assert delta == pytest.approx(deliveries)
    assert plan.sizing.qstash.fanout_messages - base.sizing.qstash.fanout_messages == pytest.approx(
        runs * math.ceil(users / chunk)
    )
    delta_high = plan.sizing.qstash.messages.high - base.sizing.qstash.messages.high
    assert delta_high == pytest.approx(deliveries * (1 + retries))

    # Lambda: job_base per delivery plus each call at the p50 latency.
    memory_gb = plan.sizing.workers_lambda.memory_mb / 1024
    gbs = plan.sizing.compute.worker_gb_seconds
    base_gbs = base.sizing.compute.worker_gb_seconds
    assert gbs.low - base_gbs.low == pytest.approx(
        (deliveries * usage.job_base_seconds + calls_low * usage.model_latency_p50_seconds) * memory_gb
    )
    assert gbs.high - base_gbs.high == pytest.approx(
        (deliveries * (1 + retries) * usage.job_base_seconds + calls_high * usage.model_latency_p50_seconds) * memory_gb
    )

    # NAT: its tokens at the bytes per token and each call's headers, both ways.
    const = rules.constants
    per_call_bytes = (INVOICES["input_tokens"] + INVOICES["output_tokens"]) * const.nat_bytes_per_token
    nat, base_nat = plan.sizing.compute.nat.ai_gb, base.sizing.compute.nat.ai_gb
    assert nat.low - base_nat.low == pytest.approx(
        calls_low * (per_call_bytes + const.nat_request_overhead_bytes) / 1e9
    )
    assert nat.high - base_nat.high == pytest.approx(
        calls_high * (per_call_bytes + const.nat_request_overhead_bytes) / 1e9
    )

    # The spend guard knows its model's prices.
    guard = plan.worker_manifest()["spend_guard"]["models"]
    assert guard["Phi-4"] == {
        "input_usd_per_1m": float(catalog.model_price("Phi-4", "input").usd),
        "output_usd_per_1m": float(catalog.model_price("Phi-4", "output").usd),
    }
    assert "Phi-4" not in base.worker_manifest()["spend_guard"]["models"]


def test_an_event_worker_without_a_model_adds_messages_and_no_ai_line(rules: Rules) -> None:
    base, plan = build_plan(Answers()), build_plan(with_custom(SIGNUPS))
    usage, users, retries = Answers().usage, 50, rules.constants.qstash_retries
    messages = users * SIGNUPS["calls_per_user_per_month"]
    assert {x.id for x in plan.lines} == {x.id for x in base.lines}
    assert [x for x in plan.lines if x.budget == "ai"] == [x for x in base.lines if x.budget == "ai"]
    qstash, base_qstash = plan.sizing.qstash, base.sizing.qstash
    assert qstash.event_jobs.low - base_qstash.event_jobs.low == pytest.approx(messages)
    assert qstash.event_jobs.high - base_qstash.event_jobs.high == pytest.approx(messages * usage.high_usage_factor)
    assert qstash.messages.high - base_qstash.messages.high == pytest.approx(
        messages * usage.high_usage_factor * (1 + retries)
    )
    assert qstash.schedules == base_qstash.schedules
    memory_gb = plan.sizing.workers_lambda.memory_mb / 1024
    gbs, base_gbs = plan.sizing.compute.worker_gb_seconds, base.sizing.compute.worker_gb_seconds
    assert gbs.low - base_gbs.low == pytest.approx(messages * usage.job_base_seconds * memory_gb)


def test_an_event_worker_with_a_model_makes_one_call_per_message(catalog: Catalog) -> None:
    worker = {**SIGNUPS, "model": "Phi-4", "input_tokens": 300, "output_tokens": 50}
    plan, usage = build_plan(with_custom(worker)), Answers().usage
    calls = 50 * SIGNUPS["calls_per_user_per_month"]
    got = line(plan, "ai_score_signup_input")
    assert got.quantity_low == pytest.approx(calls * 300 / 1e6)
    assert got.quantity_high == pytest.approx(calls * usage.high_usage_factor * 300 / 1e6)
    assert line(plan, "ai_score_signup_output").quantity_low == pytest.approx(calls * 50 / 1e6)


def test_schedules_and_manifest(rules: Rules) -> None:
    plan = build_plan(with_custom(INVOICES, SIGNUPS))
    schedules = {s.worker: s for s in plan.sizing.qstash.schedules}
    assert schedules["invoice_sender"].cron == "0 8 * * *"
    assert schedules["invoice_sender"].every_minutes is None
    assert schedules["invoice_sender"].runs_per_month == pytest.approx(float(MONTH_DAYS))
    assert "score_signup" not in schedules
    # The reference schedules stay as they were.
    assert [s for s in plan.sizing.qstash.schedules if s.worker in rules.workers] == list(
        build_plan(Answers()).sizing.qstash.schedules
    )

    manifest = plan.worker_manifest()
    entries = {w["name"]: w for w in manifest["workers"]}
    assert [w["name"] for w in manifest["workers"]] == [*Answers().workers, "invoice_sender", "score_signup"]
    assert all(entries[name]["custom"] is False for name in rules.workers)
    assert all(entries[name]["payload_example"] is None for name in rules.workers)
    deadline = math.floor(rules.constants.worker_timeout_seconds * rules.constants.message_deadline_ratio)
    assert entries["invoice_sender"] == {
        "name": "invoice_sender",
        "route": "/workers/invoice-sender",
        "trigger": "cron",
        "cron": "0 8 * * *",
        "model": "Phi-4",
        "model_use": None,
        "limits": {
            "max_input_tokens": 800,
            "max_output_tokens": 200,
            "model_calls_per_unit": 1,
            "max_model_calls_per_user_per_day": None,
            "days_per_run": None,
            "chunk_size": fanout_chunk(rules, Answers().usage),
            "message_deadline_seconds": deadline,
            "max_payload_bytes": rules.constants.custom_worker_max_payload_bytes,
        },
        "custom": True,
        "payload_example": None,
    }
    signup = entries["score_signup"]
    assert (signup["route"], signup["trigger"], signup["cron"], signup["model"]) == (
        "/workers/score-signup",
        "event",
        None,
        None,
    )
    assert signup["limits"]["model_calls_per_unit"] == 0 and signup["limits"]["max_input_tokens"] is None
    assert signup["custom"] is True and signup["payload_example"] == SIGNUPS["payload_example"]
    # The manifest is JSON as the rendered app reads it.
    assert json.loads(json.dumps(manifest)) == manifest


def test_capacity_of_custom_workers(rules: Rules) -> None:
    plan, usage = build_plan(with_custom(INVOICES, SIGNUPS)), Answers().usage
    # Fanned out: chunk x messages at once x the waves of messages that fit the 24 hours between two runs.
    cron, chunk = plan.capacity["invoice_sender"], fanout_chunk(rules, usage)
    assert cron.limiting in ("parallelism", "database_connections")
    assert cron.figures["chunk_size"] == chunk and cron.figures["period_seconds"] == 24 * 3600
    waves = math.floor(24 * 3600 / (usage.job_base_seconds + chunk * usage.model_latency_p50_seconds))
    concurrent = min(
        plan.sizing.workers_lambda.reserved_concurrency,
        cron.figures["db_connections_for_workers"] // (2 * plan.sizing.workers_lambda.db_pool_size),
    )
    assert cron.figures["concurrent_messages"] == concurrent
    assert cron.max_users == chunk * concurrent * waves
    # Without a model: one message a run, no per-user work the plan knows of.
    quiet = {"name": "nightly_cleanup", "trigger": "cron", "schedule": "0 3 * * *"}
    plain = build_plan(with_custom(quiet))
    assert plain.sizing.worker_limits["nightly_cleanup"].chunk_size is None
    assert plain.capacity["nightly_cleanup"].limiting == "one_message_run"
    assert plain.capacity["nightly_cleanup"].max_users == MAX_USERS
    assert plain.sizing.custom_workers["nightly_cleanup"].messages.low == pytest.approx(float(MONTH_DAYS))
    event = plan.capacity["score_signup"]
    concurrent = event.figures["concurrent_messages"]
    per_hour = concurrent * 3600 / usage.job_base_seconds  # no model call: fixed work only
    peak = SIGNUPS["calls_per_user_per_month"] / 730 * usage.peak_hour_factor
    assert event.max_users == math.floor(per_hour / peak)


def test_the_issues_example_serves_100_users() -> None:
    """The issue's done-when, with an available model: a daily invoice run at 30 calls per user a month."""
    worker = {**INVOICES, "model": "DeepSeek-V3.2", "calls_per_user_per_month": 30}
    plan = build_plan(with_custom(worker, users=100))
    assert plan.advice is None
    assert plan.capacity["invoice_sender"].max_users >= 100
    assert plan.capacity["invoice_sender"].limiting != "one_message_run"


def test_a_custom_cron_worker_past_its_capacity_is_refused(rules: Rules) -> None:
    # Every two minutes: one wave of chunk messages fits between two runs, so the messages in flight bound it.
    busy = {**INVOICES, "schedule": "*/2 * * * *", "calls_per_user_per_month": 30}
    plan = build_plan(with_custom(busy))
    most = plan.capacity["invoice_sender"].max_users
    assert plan.capacity["invoice_sender"].figures["waves_per_period"] == 1
    assert most == fanout_chunk(rules, Answers().usage) * plan.capacity["invoice_sender"].figures["concurrent_messages"]
    assert build_plan(with_custom(busy, users=most)).advice is None
    over = build_plan(with_custom(busy, users=most + 1, aws_budget=10_000, ai_budget=100_000))
    assert over.advice is not None and over.advice.refuses
    assert "invoice_sender serves at most" in over.advice.one_line()


def test_answers_round_trip_through_yaml() -> None:
    """What copier records in .copier-answers.yml and reads back is the same answer."""
    answers = with_custom(INVOICES, SIGNUPS)
    dumped = yaml.safe_dump(answers.model_dump(mode="json"))
    assert parse_answers(yaml.safe_load(dumped)) == answers
