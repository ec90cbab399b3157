"""`betagen`: estimate a beta's monthly budget, render it with copier, keep examples fresh.

User mistakes print one line and exit 2; a plan over budget or over capacity exits 3 (refused); a plan at
risk (its low estimate fits a budget, its high one does not) exits 5 with its advice, and `new` and `update`
still write it. `estimate` imports neither copier nor boto3, so it stays fast.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from generator.errors import AnswerError, AnswersFileError, UserError
from generator.plan.answers import Answers, UsageProfile
from generator.plan.catalog import load_catalog

EXIT_INVALID = 2
EXIT_OVER_BUDGET = 3
# 4 is EXIT_CONFLICTS (render/update.py).
EXIT_AT_RISK = 5

app = typer.Typer(
    name="betagen",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Plan, price and render a small SaaS beta on AWS + Upstash QStash + Azure AI.",
    epilog="Exit codes: 0 fits (or tight: the high estimate within budget, close to it), 2 invalid input, "
    "3 over budget or over capacity (refused), 4 update left conflicts, "
    "5 at risk (the low estimate fits a budget, the high one does not).",
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _plan_json(plan: Any) -> str:
    """The plan as JSON plus `stale_prices`: the prices older than 12 months today. Only `estimate` prints it; the
    plan.json a render writes stays free of today's date."""
    import datetime as dt
    import json

    from generator.plan.catalog import stale_prices

    data = json.loads(plan.model_dump_json())
    data["stale_prices"] = [s.model_dump() for s in stale_prices(plan.lines, dt.date.today())]
    return json.dumps(data, indent=2, ensure_ascii=False)


def _output_format(value: str) -> OutputFormat:
    """The --format value, or one line naming what is allowed (not the parser's wording)."""
    try:
        return OutputFormat(value)
    except ValueError:
        allowed = ", ".join(f.value for f in OutputFormat)
        raise UserError(f"--format: {value!r} is not allowed (allowed: {allowed})") from None


def _default(field: str) -> str:
    value = Answers.model_fields[field].get_default(call_default_factory=True)
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    return str(value)


def _help(field: str, extra: str = "") -> str:
    description = Answers.model_fields[field].description or field
    # Parentheses, not brackets: typer's rich help would read brackets as markup.
    return f"{description}{extra} (default: {_default(field)}; answer key: {field})"


USAGE_HELP = "Override one usage assumption, KEY=VALUE; repeatable. Keys: " + ", ".join(
    f"{name} ({info.default:g})" if isinstance(info.default, int | float) else name
    for name, info in UsageProfile.model_fields.items()
)


def load_answers_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnswersFileError(f"answers file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise AnswersFileError(f"answers file {path}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AnswersFileError(f"answers file {path}: expected a mapping of answers, got {type(data).__name__}")
    return data


def parse_usage_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AnswerError("usage", f"{pair!r} is not KEY=VALUE", ", ".join(UsageProfile.model_fields))
        overrides[key.strip()] = value.strip()
    return overrides


def collect_answers(answers_file: Path | None, flags: dict[str, Any], usage: list[str]) -> Answers:
    """Answers file first, flags over it; validated by the one answers model."""
    from generator.plan.answers import parse_answers

    data: dict[str, Any] = load_answers_file(answers_file) if answers_file else {}
    data.update({k: v for k, v in flags.items() if v is not None})
    if usage:
        base = data.get("usage") or {}
        if not isinstance(base, dict):
            raise AnswerError("usage", "must be a mapping of usage assumptions", ", ".join(UsageProfile.model_fields))
        data["usage"] = {**base, **parse_usage_overrides(usage)}
    return parse_answers(data)


Opt = typer.Option


@app.callback()
def _root() -> None:
    """Plan, price and render a small SaaS beta on AWS + Upstash QStash + Azure AI."""


@app.command()
def estimate(
    answers_file: Annotated[
        Path | None,
        Opt("--answers", help="YAML answers file (the keys of copier.yml); flags override it.", metavar="FILE"),
    ] = None,
    project_name: Annotated[str | None, Opt(help=_help("project_name"), metavar="NAME")] = None,
    region: Annotated[
        str | None,
        Opt(
            "--region",
            "--aws-region",
            help=_help("aws_region", f" ({', '.join(load_catalog().regions)})"),
            metavar="REGION",
        ),
    ] = None,
    users: Annotated[str | None, Opt(help=_help("users", " (1 to 100,000)"), metavar="N")] = None,
    aws_budget: Annotated[str | None, Opt(help=_help("aws_budget"), metavar="USD")] = None,
    ai_budget: Annotated[str | None, Opt(help=_help("ai_budget"), metavar="USD")] = None,
    workers: Annotated[str | None, Opt(help=_help("workers", ", comma-separated"), metavar="LIST")] = None,
    trends_model: Annotated[str | None, Opt(help=_help("trends_model"), metavar="MODEL")] = None,
    video_model: Annotated[str | None, Opt(help=_help("video_model"), metavar="MODEL")] = None,
    alerts_model: Annotated[str | None, Opt(help=_help("alerts_model"), metavar="MODEL")] = None,
    alert_email: Annotated[str | None, Opt(help=_help("alert_email"), metavar="EMAIL")] = None,
    hosting_profile: Annotated[str | None, Opt(help=_help("hosting_profile"), metavar="PROFILE")] = None,
    cache_engine: Annotated[str | None, Opt(help=_help("cache_engine", " (valkey, redis)"), metavar="ENGINE")] = None,
    budget_alert_thresholds: Annotated[
        str | None, Opt(help=_help("budget_alert_thresholds", ", comma-separated percentages"), metavar="LIST")
    ] = None,
    usage: Annotated[list[str] | None, Opt("--usage", help=USAGE_HELP, metavar="KEY=VALUE")] = None,
    set_: Annotated[
        list[str] | None,
        Opt(
            "--set",
            help="One answer, KEY=VALUE (YAML value), over the flags; repeatable. E.g. "
            "custom_workers='[{name: invoice_sender, trigger: cron, schedule: \"0 8 * * *\"}]'.",
            metavar="KEY=VALUE",
        ),
    ] = None,
    output_format: Annotated[
        str,
        Opt(
            "--format",
            help="Output: a table for the terminal, json (the whole plan; amounts as strings with exactly two "
            "decimals) or markdown.",
            metavar="table|json|markdown",
        ),
    ] = OutputFormat.table.value,
) -> None:
    """Size and price the beta for these answers; exit 3 when over budget, 5 when at risk.

    Without flags it prices the reference scenario: 50 users in us-east-1 on $300/month of
    infrastructure and $1,000/month of Azure AI, with all four workers.
    """
    from generator.plan.plan import build_plan

    flags = {
        "project_name": project_name,
        "aws_region": region,
        "users": users,
        "aws_budget": aws_budget,
        "ai_budget": ai_budget,
        "workers": workers,
        "trends_model": trends_model,
        "video_model": video_model,
        "alerts_model": alerts_model,
        "alert_email": alert_email,
        "hosting_profile": hosting_profile,
        "cache_engine": cache_engine,
        "budget_alert_thresholds": budget_alert_thresholds,
    } | parse_set_options(set_ or [])
    chosen_format = _output_format(output_format)
    answers = collect_answers(answers_file, flags, usage or [])
    plan = build_plan(answers)
    if chosen_format is OutputFormat.json:
        sys.stdout.write(_plan_json(plan) + "\n")
    elif chosen_format is OutputFormat.markdown:
        from generator.reports.markdown import estimate_markdown

        sys.stdout.write(estimate_markdown(plan))
    else:
        from generator.reports.console import print_plan

        print_plan(plan, sys.stdout)
    if plan.advice:
        sys.stderr.write(f"betagen: {plan.advice.one_line()}\n")
        raise typer.Exit(EXIT_OVER_BUDGET if plan.advice.refuses else EXIT_AT_RISK)


LIST_ANSWERS = ("workers", "budget_alert_thresholds")


def parse_set_options(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value`: the value is read as YAML, so numbers, lists and mappings work."""
    import yaml

    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AnswerError("--set", f"{pair!r} is not KEY=VALUE", ", ".join(Answers.model_fields))
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        # A list answer given as `a,b` (as estimate's flags take it): copier's multiselect wants a list.
        if key.strip() in LIST_ANSWERS and isinstance(parsed, str | int):
            parsed = [part.strip() for part in str(parsed).split(",") if part.strip()]
            if key.strip() == "budget_alert_thresholds":
                parsed = [int(part) if part.isdigit() else part for part in parsed]
        data[key.strip()] = parsed
    return data


def _summary(dest: Path, plan: Any, template: Path | None = None) -> str:
    from generator.render.project import next_steps, written_files
    from generator.reports.formatting import money, money_range

    files = written_files(dest)
    t = plan.totals
    return (
        f"wrote {len(files)} files to {dest}\n"
        f"  infrastructure {money_range(t.infrastructure.low, t.infrastructure.high)} of "
        f"{money(t.infrastructure.limit)} ({t.infrastructure.verdict}); "
        f"Azure AI {money_range(t.ai.low, t.ai.high)} of {money(t.ai.limit)} ({t.ai.verdict})\n\n"
        + next_steps(dest, template)
    )


@app.command()
def new(
    dest: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).", metavar="DEST")],
    answers_file: Annotated[
        Path | None, Opt("--answers", help="YAML answers file (the keys of copier.yml).", metavar="FILE")
    ] = None,
    set_: Annotated[
        list[str] | None, Opt("--set", help="One answer, KEY=VALUE (YAML value); repeatable.", metavar="KEY=VALUE")
    ] = None,
    defaults: Annotated[
        bool, Opt("--defaults", help="Take the default for every answer not given (no questions).")
    ] = False,
    template: Annotated[
        Path | None,
        Opt(
            "--template",
            help="The template to render: a folder holding copier.yml, e.g. a clone of this repository "
            "(default: the one this betagen ships).",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Render a new beta repository into DEST with copier (asks the questions unless --defaults).

    Runs copier with the template trusted explicitly (its context hook prices the plan). Over-budget or
    invalid answers stop before anything is written; a plan at risk is written, then exits 5.
    """
    from generator.plan.advice import advice_line
    from generator.render.project import RenderError, new_project, unreachable_origin

    if template is not None and not (template / "copier.yml").is_file():
        raise RenderError(f"--template {template}: no copier.yml there")
    data: dict[str, Any] = load_answers_file(answers_file) if answers_file else {}
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    data.update(parse_set_options(set_ or []))
    interactive = not defaults and sys.stdin.isatty()
    plan = new_project(dest, data, defaults=not interactive, src=template.resolve() if template else None)
    sys.stdout.write(_summary(dest, plan, template.resolve() if template else None) + "\n")
    if note := unreachable_origin(dest):
        sys.stderr.write(f"betagen: note: {note}\n")
    if plan.advice:  # refused advice stopped the render: this plan is at risk
        sys.stderr.write(f"betagen: warning: {advice_line(plan.advice.model_dump(), 'set')}\n")
        raise typer.Exit(EXIT_AT_RISK)


@app.command()
def update(
    dest: Annotated[Path, typer.Argument(help="A repository rendered by this template.", metavar="DEST")] = Path(),
    answers_file: Annotated[
        Path | None, Opt("--answers", help="YAML file of answers to change.", metavar="FILE")
    ] = None,
    set_: Annotated[
        list[str] | None,
        Opt("--set", help="Change one answer, KEY=VALUE (YAML value); repeatable.", metavar="KEY=VALUE"),
    ] = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="Print the plan diff and write nothing.")] = False,
    vcs_ref: Annotated[
        str | None,
        Opt("--vcs-ref", help="Template version to bring (default: the latest release tag, else HEAD).", metavar="REF"),
    ] = None,
) -> None:
    """Bring template changes (and changed answers) into DEST with `copier update`, keeping your edits.

    Prints the plan diff first (each priced line whose monthly cost changes, the totals and verdicts,
    the sizing), priced by the new template version's own engine. DEST must be a git repository with no
    uncommitted changes. Conflicting edits are kept with inline conflict markers, never dropped: each such
    file is listed and the exit code is 4. A new plan at risk is applied, then exits 5.
    """
    from generator.render.update import EXIT_CONFLICTS, apply_update, preview_update, require_clean

    data: dict[str, Any] = load_answers_file(answers_file) if answers_file else {}
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    data.update(parse_set_options(set_ or []))
    if not dry_run:
        require_clean(dest)
    preview = preview_update(dest, data, vcs_ref=vcs_ref)
    sys.stdout.write(preview.text())
    if preview.over_budget:
        sys.stderr.write(f"betagen: error: {preview.over_budget}\n")
        raise typer.Exit(EXIT_OVER_BUDGET)
    if dry_run:
        sys.stdout.write("dry run: nothing written\n")
        _warn_at_risk(preview.at_risk)
        return
    conflicts = apply_update(dest, data, preview)
    if conflicts:
        listed = "".join(f"  {path}\n" for path in conflicts)
        sys.stdout.write(f"updated {dest}; {len(conflicts)} file(s) left with conflict markers:\n{listed}")
        sys.stderr.write(
            f"betagen: {len(conflicts)} file(s) need you: resolve the <<<<<<< / >>>>>>> blocks, then "
            f"`git -C {dest} add` them\n"
        )
        raise typer.Exit(EXIT_CONFLICTS)
    sys.stdout.write(f"updated {dest}; review with `git -C {dest} diff` before committing\n")
    _warn_at_risk(preview.at_risk)


def _warn_at_risk(advice: str) -> None:
    if advice:
        sys.stderr.write(f"betagen: warning: {advice}\n")
        raise typer.Exit(EXIT_AT_RISK)


@app.command()
def examples(
    check: Annotated[
        bool, Opt("--check", help="Re-render into a temporary folder and fail with a diff if anything drifted.")
    ] = False,
) -> None:
    """Rewrite examples/<name>/ from examples/<name>.yml (or check them with --check)."""
    from generator.render.project import check_examples, write_examples

    if check:
        problems = check_examples()
        if problems:
            sys.stdout.write("\n".join(problems) + "\n")
            sys.stderr.write(f"betagen: {len(problems)} example file(s) drifted; run `betagen examples`\n")
            raise typer.Exit(1)
        sys.stdout.write("examples are up to date\n")
        return
    for target in write_examples():
        sys.stdout.write(f"rendered {target}\n")


@app.command()
def demo(
    keep: Annotated[
        Path | None,
        Opt("--keep", help="Render into this new folder and keep it (default: a temporary folder).", metavar="DIR"),
    ] = None,
) -> None:
    """Run the whole product locally, offline: render the reference beta, run a real job through it.

    Renders the reference answers, starts the rendered repo's local stack on 127.0.0.1 (PostgreSQL,
    Redis, moto S3, QStash and Azure AI stand-ins, the app under uvicorn), sends a signed video job
    through the qstash SDK, a duplicate, one cron tick of each other worker, prints what happened and
    the budget, then stops everything. Exits non-zero if any step fails.
    """
    from generator.render.demo import run_demo

    code = run_demo(keep)
    if code:
        raise typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr, never a traceback."""
    try:
        code = app(args=argv, prog_name="betagen", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        sys.stderr.write("betagen: aborted\n")
        code = 130
    except UserError as exc:
        sys.stderr.write(f"betagen: error: {exc}\n")
        code = exc.exit_code
    except Exception as exc:
        # Usage errors (unknown option, bad choice) from typer's command-line parser; matched by shape
        # because typer vendors click privately.
        if not (callable(getattr(exc, "format_message", None)) and isinstance(getattr(exc, "exit_code", None), int)):
            raise
        sys.stderr.write(f"betagen: error: {exc.format_message()}\n")  # type: ignore[attr-defined]
        code = EXIT_INVALID
    sys.exit(code if isinstance(code, int) else 0)
