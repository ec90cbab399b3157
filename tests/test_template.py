"""The Copier template: renders, matrix, determinism, validation, trust, secrets, examples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy

from generator.plan.answers import WORKERS, Answers
from generator.plan.plan import build_plan
from generator.render.project import (
    EXAMPLE_COMMIT,
    EXAMPLE_SRC_PATH,
    check_examples,
    record_template_origin,
    template_root,
)
from generator.reports.formatting import money_range

ROOT = template_root()
COPIER = str(Path(sys.executable).with_name("copier"))
BETAGEN = str(Path(sys.executable).with_name("betagen"))
WORKER_WORDS = {
    "video_processing": ("video_processing", "Video processing", "video-processing"),
    "content_trends": ("content_trends", "Content trends", "content-trends"),
    "data_processing": ("data_processing", "Data processing", "data-processing"),
    "alert_checker": ("alert_checker", "Alert checker", "alert-checker"),
}
pytestmark = pytest.mark.slow
# An expression or a tag Jinja did not render (a Python f-string's "{{" is not one).
JINJA_LEFTOVER = re.compile(r"\{\{-?\s*[A-Za-z_][^{}\n]*\}\}|\{%-?\s|\{#-?\s")


def render(dest: Path, **answers: Any) -> Path:
    run_copy(str(ROOT), str(dest), data=answers, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    return dest


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("ref") / "beta")


def test_default_render_has_the_docs_env_and_answers(reference: Path) -> None:
    for name in (
        "README.md",
        "ARCHITECTURE.md",
        "PROS-CONS.md",
        "QUICK-START.md",
        "WORKERS-QSTASH-GUIDE.md",
        ".env.production.local.example",
        ".gitignore",
        ".copier-answers.yml",
        "app/plan.json",
    ):
        assert (reference / name).is_file(), name
    answers = yaml.safe_load((reference / ".copier-answers.yml").read_text())
    assert answers["users"] == 50 and answers["aws_region"] == "us-east-1"
    assert "project_slug" not in answers  # computed, not stored


def test_copier_defaults_are_the_answers_model_defaults() -> None:
    questions = yaml.safe_load((ROOT / "copier.yml").read_text())
    model = Answers()
    for name, _field in Answers.model_fields.items():
        default = questions[name]["default"]
        expected = getattr(model, name)
        if name == "usage":
            assert default == {}  # overrides only: the profile's defaults live in the model
        elif name.endswith("_budget"):
            # Rendered from the model (and not offered when the plan overruns it): see copier.yml.
            assert f"betagen_default('{name}')" in default, name
        elif isinstance(expected, tuple):
            assert list(expected) == default, name
        else:
            assert expected == default, name
    asked = {k for k in questions if not k.startswith("_")} - {"project_slug"}
    assert asked == set(Answers.model_fields), "one question per answer"


def _budget_rows(readme: str) -> dict[str, str]:
    """Rows of the README tables headed `| Service | Item |`: 'service | item' -> monthly cost."""
    rows, in_budget = {}, False
    for line in readme.splitlines():
        if not line.startswith("|"):
            in_budget = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["Service", "Item"]:
            in_budget = True
        elif in_budget and cells[0] != "---":
            rows[f"{cells[0]} | {cells[1]}"] = cells[4]
    return rows


def test_readme_budget_agrees_line_by_line_with_estimate_json(reference: Path) -> None:
    done = subprocess.run([BETAGEN, "estimate", "--format", "json"], capture_output=True, text=True, check=True)
    plan = json.loads(done.stdout)
    rows = _budget_rows((reference / "README.md").read_text())
    assert len(rows) == len(plan["lines"])
    for line in plan["lines"]:
        assert rows[f"{line['service']} | {line['item']}"] == money_range(line["cost_low"], line["cost_high"])
    totals = plan["totals"]
    readme = (reference / "README.md").read_text()
    assert money_range(totals["infrastructure"]["low"], totals["infrastructure"]["high"]) in readme
    assert money_range(totals["ai"]["low"], totals["ai"]["high"]) in readme


def test_worker_manifest_is_the_plans(reference: Path) -> None:
    manifest = json.loads((reference / "app/plan.json").read_text())
    assert manifest == json.loads(json.dumps(build_plan(Answers()).worker_manifest()))


MATRIX = [
    ("us-east-1", 1, ["data_processing"], "valkey"),
    ("us-west-2", 20, ["video_processing", "alert_checker"], "redis"),
    ("eu-west-1", 250, ["content_trends"], "valkey"),
    ("eu-central-1", 500, list(WORKERS), "redis"),
    ("eu-west-3", 501, ["alert_checker", "data_processing"], "valkey"),
    ("ap-southeast-1", 10, ["video_processing"], "redis"),
    ("ap-northeast-1", 5000, ["content_trends", "alert_checker"], "valkey"),
]


@pytest.mark.parametrize(("region", "users", "workers", "engine"), MATRIX)
def test_answer_matrix_renders_only_what_was_chosen(
    copie: Any, region: str, users: int, workers: list[str], engine: str
) -> None:
    budget = {"aws_budget": 50_000, "ai_budget": 50_000}
    result = copie.copy(
        extra_answers={"aws_region": region, "users": users, "workers": workers, "cache_engine": engine, **budget}
    )
    assert result.exit_code == 0, result.exception
    out = result.project_dir
    plan = build_plan(Answers(aws_region=region, users=users, workers=workers, cache_engine=engine, **budget))
    readme = (out / "README.md").read_text()
    assert plan.sizing.rds.instance_class in readme and region in readme
    assert ("Valkey" if engine == "valkey" else "Redis OSS") in (out / "ARCHITECTURE.md").read_text()
    for path in files(out):
        assert ".jinja" not in path.name
        text = path.read_text()
        assert not JINJA_LEFTOVER.search(text), path
        if path.name == ".copier-answers.yml" or path.parent.name == ".betagen":  # records: answers, whole plan
            continue
        for worker, words in WORKER_WORDS.items():
            if worker not in workers:
                for word in words:
                    assert word not in text, f"{word} in {path.relative_to(out)}"
                assert word not in str(path.relative_to(out))


def test_rendering_twice_gives_identical_bytes(tmp_path: Path) -> None:
    a, b = render(tmp_path / "a"), render(tmp_path / "b")
    assert [p.relative_to(a) for p in files(a)] == [p.relative_to(b) for p in files(b)]
    for path in files(a):
        first, second = path.read_bytes(), (b / path.relative_to(a)).read_bytes()
        if path.name == ".copier-answers.yml":
            # A dirty template checkout gets a fresh temporary commit per render; on a clean one _commit matches.
            first, second = (re.sub(rb"_commit: \S+", b"_commit: x", x) for x in (first, second))
        assert first == second, path


@pytest.mark.parametrize(
    ("data", "question"),
    [
        ({"users": 0}, "users"),
        ({"aws_region": "mars-1"}, "aws_region"),
        ({"workers": ["mining"]}, "workers"),
        ({"video_model": "DeepSeek-V3"}, "video_model"),
        ({"hosting_profile": "vercel-upstash"}, "hosting_profile"),
    ],
)
def test_invalid_answers_fail_naming_the_question(tmp_path: Path, data: dict[str, Any], question: str) -> None:
    with pytest.raises(ValueError, match=f"'{question}'"):
        render(tmp_path / "bad", **data)
    assert not (tmp_path / "bad").exists()


def test_over_budget_stops_with_the_overrun_and_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "over"
    done = subprocess.run(
        [COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "HEAD", "--data", "users=5000", str(ROOT), str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    # A default budget is checked while rendering: copier prints our line, not a traceback.
    assert done.returncode != 0
    assert "exceeds the aws_budget of $300.00" in done.stderr and "Traceback" not in done.stderr
    assert not dest.exists()
    done = subprocess.run(
        [BETAGEN, "new", str(dest), "--defaults", "--set", "users=5000", "--set", "aws_budget=100"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "exceeds the aws_budget of $100.00" in done.stderr
    assert "Traceback" not in done.stderr and not dest.exists()


def test_copy_without_trust_says_how_to_trust(tmp_path: Path) -> None:
    done = subprocess.run(
        [COPIER, "copy", "--defaults", "--vcs-ref", "HEAD", str(ROOT), str(tmp_path / "x")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 4
    assert "--trust" in done.stderr
    assert not (tmp_path / "x").exists()


SECRET_SHAPES = [
    re.compile(r"sig_[A-Za-z0-9]{16,}"),  # QStash signing keys
    re.compile(r"eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),  # JWTs and QStash tokens
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key ids
    re.compile(r"(?i)(password|secret|api_key|token)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{12,}"),
]


def test_no_secret_value_anywhere(reference: Path) -> None:
    for path in files(reference):
        text = path.read_text()
        for shape in SECRET_SHAPES:
            assert not shape.search(text), (path, shape.pattern)
    for line in (reference / ".env.production.local.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and value == "", line


def test_gitignore_keeps_env_files_out_but_the_example(reference: Path) -> None:
    subprocess.run(["git", "init", "-q", str(reference)], check=True)
    (reference / ".env.production.local").write_text("QSTASH_TOKEN=\n")
    ignored = subprocess.run(
        ["git", "-C", str(reference), "check-ignore", ".env.production.local", ".env", ".env.production.local.example"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert ignored == [".env.production.local", ".env"]
    (reference / ".env.production.local").unlink()


def test_betagen_new_renders_and_summarises(tmp_path: Path) -> None:
    dest = tmp_path / "n"
    done = subprocess.run([BETAGEN, "new", str(dest), "--defaults"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"files to {dest}" in done.stdout and "(fits)" in done.stdout
    # The template's own next steps (copier.yml's message after a copy), rendered for this project.
    assert f"Your beta's repository is in {dest}: 50 users in us-east-1." in done.stdout
    assert "cp .env.production.local.example .env.production.local" in done.stdout
    assert "git init && git add -A && git commit" in done.stdout
    # Updating a project that is not a git repository says how to make it one, in one line.
    update = subprocess.run([BETAGEN, "update", str(dest)], capture_output=True, text=True, check=False)
    assert update.returncode == 2 and update.stderr.count("\n") == 1
    assert f"{dest} is not a git repository" in update.stderr and f"git -C {dest} init" in update.stderr
    again = subprocess.run([BETAGEN, "new", str(dest), "--defaults"], capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "not empty" in again.stderr and again.stderr.count("\n") == 1


def test_betagen_new_bad_answer_is_one_line(tmp_path: Path) -> None:
    dest = tmp_path / "bad"
    done = subprocess.run(
        [BETAGEN, "new", str(dest), "--defaults", "--set", "aws_region=mars-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "aws_region: 'mars-1' is not supported" in done.stderr and not dest.exists()


def test_defaults_render_is_the_reference_example(tmp_path: Path) -> None:
    """`copier copy --trust --defaults` writes examples/reference/, but for the answers file's origin lines."""
    dest = tmp_path / "x"
    subprocess.run(
        [COPIER, "copy", "-q", "--trust", "--defaults", "--vcs-ref", "HEAD", str(ROOT), str(dest)],
        check=True,
        capture_output=True,
    )
    record_template_origin(dest, src_path=EXAMPLE_SRC_PATH, commit=EXAMPLE_COMMIT)
    example = ROOT / "examples" / "reference"
    assert [p.relative_to(dest) for p in files(dest)] == [p.relative_to(example) for p in files(example)]
    for path in files(dest):
        assert path.read_bytes() == (example / path.relative_to(dest)).read_bytes(), path


def test_examples_are_up_to_date() -> None:
    problems = check_examples()
    assert not problems, "\n".join(problems)[:4000]
