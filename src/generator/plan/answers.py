"""The user's answers: what `copier.yml` asks and `betagen estimate` takes as flags.

Field names here are the keys of `copier.yml` and of answers files. Every invalid value becomes one
`AnswerError` naming the field and the values it allows.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from generator.errors import AnswerError
from generator.plan.catalog import load_catalog
from generator.plan.custom_workers import CustomWorker, parse_custom_workers
from generator.plan.rules import load_rules

WORKERS = ("video_processing", "content_trends", "data_processing", "alert_checker")
CACHE_ENGINES = ("valkey", "redis")
MAX_USERS = 100_000
# Validation context key: accept a retired model (only to price the reference document's own choices).
ALLOW_RETIRED_MODELS = "allow_retired_models"
# Cron steps that divide an hour or a day evenly, so a schedule fires at the same minutes every day.
SCHEDULE_MINUTES = (5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Infinity and NaN parse as floats but price as nonsense ("fits" at any cost): only finite numbers.
NonNegative = Annotated[float, at.Ge(0), Field(allow_inf_nan=False)]
Positive = Annotated[float, at.Gt(0), Field(allow_inf_nan=False)]


# Usage keys earlier versions took, and why they are gone: an answers file that still sets one gets this line.
RETIRED_USAGE_KEYS = {
    "trends_requests_per_user_per_month": "no longer an assumption: the content trends worker calls the model "
    "once per user per run, so its calls follow trends_every_minutes",
    "nat_gb_per_user_per_month": "no longer an assumption: NAT traffic follows the bytes the workers move "
    "(model requests and responses, the messages they publish)",
    "ai_call_seconds": "renamed model_latency_p50_seconds (with model_latency_p95_seconds beside it)",
}


class UsageProfile(BaseModel):
    """Per-user assumptions: the expected use, which the low estimate prices.

    The defaults reproduce the reference's storage, uploads and events for 50 users. Model calls follow the
    workers' code (one trends summary per user per run); the per-call token figures are what the workers'
    prompts hold, within the caps the code obeys (rules.yaml `workers.<name>.limits`), which the high
    estimate prices.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage_gb_per_user: NonNegative = Field(3.0, description="S3 GB stored per user (150 GB at 50 users)")
    uploads_per_user_per_month: NonNegative = Field(20, description="videos uploaded per user per month")
    # The video worker's capacity is the users whose busiest hour of uploads it processes within the hour. An
    # assumption to replace with the project's own figures: users in one region upload over about 8 waking
    # hours a day, so the busiest hour sees about 24 / 8 = 3 times the month's average hour.
    peak_hour_factor: Annotated[float, at.Ge(1)] = Field(
        3.0, description="uploads in the busiest hour, as a multiple of the month's average hour"
    )
    egress_gb_per_user_per_month: NonNegative = Field(1.0, description="GB served from S3 per user per month")
    s3_get_requests_per_user_per_month: NonNegative = Field(1000, description="S3 GETs per user per month")
    db_mb_per_user: NonNegative = Field(10, description="database MB per user besides raw events")
    events_per_user_per_day: NonNegative = Field(200, description="raw events recorded per user per day")
    event_bytes: Annotated[int, at.Ge(1)] = Field(500, description="bytes per raw event row")
    event_retention_days: Annotated[int, at.Ge(1)] = Field(90, description="days raw events are kept")
    # Expected tokens per call (the caps are in rules.yaml): the prompt each worker builds and the answer it
    # asks for. Trends: the user's top five topics with their counts (~a few hundred tokens), a two-sentence
    # summary. Video: a 1280x720 thumbnail is about 2,000 image tokens; a dozen tags and a sentence. Alerts:
    # one sentence of facts; a two-sentence explanation.
    trends_input_tokens_per_request: NonNegative = Field(500, description="trends input tokens per call")
    trends_output_tokens_per_request: NonNegative = Field(150, description="trends output tokens per call")
    video_input_tokens_per_request: NonNegative = Field(
        2000, description="multimodal input tokens per video (thumbnail + prompt)"
    )
    video_output_tokens_per_request: NonNegative = Field(150, description="multimodal output tokens per video")
    alerts_per_user_per_month: NonNegative = Field(
        25, description="alerts raised per user per month (a webhook each; a model call each, within the daily cap)"
    )
    alerts_input_tokens_per_request: NonNegative = Field(200, description="alerts model input tokens per alert")
    alerts_output_tokens_per_request: NonNegative = Field(
        150, description="alerts model output tokens per alert (thinking tokens bill as output)"
    )
    trends_every_minutes: int = Field(360, description="content trends schedule, minutes")
    data_processing_every_minutes: int = Field(60, description="data processing schedule, minutes")
    alert_checker_every_minutes: int = Field(15, description="alert checker schedule, minutes")
    maintenance_every_minutes: int = Field(5, description="cron Lambda (EventBridge) schedule, minutes")
    job_base_seconds: NonNegative = Field(2.0, description="worker seconds per job besides AI calls")
    # Azure AI serverless models answer a short prompt in a few seconds; the tail is several times that under
    # load. An assumption to replace with the project's own measurement (verify.sh reports the real figures):
    # p50 sizes durations (Lambda seconds, a run's length), p95 sizes the users one message can hold.
    model_latency_p50_seconds: Positive = Field(4.0, description="model call latency, median (seconds)")
    model_latency_p95_seconds: Positive = Field(10.0, description="model call latency, 95th percentile (seconds)")
    log_kb_per_invocation: NonNegative = Field(4, description="CloudWatch log KB per invocation")
    vercel_deploying_seats: Annotated[int, at.Ge(1)] = Field(1, description="Vercel Pro deploying seats")
    high_usage_factor: Annotated[float, at.Ge(1)] = Field(
        2.0, description="the high estimate assumes this multiple of the profile's usage"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_retired_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, reason in RETIRED_USAGE_KEYS.items():
                if key in data:
                    raise AnswerError(f"usage.{key}", reason)
        return data

    @model_validator(mode="after")
    def _within_the_code_limits(self) -> UsageProfile:
        if self.model_latency_p50_seconds > self.model_latency_p95_seconds:
            raise AnswerError(
                "usage.model_latency_p50_seconds",
                f"{self.model_latency_p50_seconds:g} is above model_latency_p95_seconds "
                f"({self.model_latency_p95_seconds:g})",
                f"at most {self.model_latency_p95_seconds:g}",
            )
        rules = load_rules()
        for use, spec in rules.model_uses.items():
            limits = rules.workers[spec.worker].limits
            for direction, cap in (("input", limits.max_input_tokens), ("output", limits.max_output_tokens)):
                key = f"{use}_{direction}_tokens_per_request"
                expected = getattr(self, key)
                if cap is not None and expected > cap:
                    raise AnswerError(
                        f"usage.{key}",
                        f"{expected:g} is above the {spec.worker} worker's cap of {cap:,} {direction} tokens per "
                        "call (rules.yaml)",
                        f"at most {cap}",
                    )
        return self

    @field_validator(
        "trends_every_minutes",
        "data_processing_every_minutes",
        "alert_checker_every_minutes",
        "maintenance_every_minutes",
    )
    @classmethod
    def _even_schedule(cls, minutes: int) -> int:
        if minutes not in SCHEDULE_MINUTES:
            raise ValueError(f"{minutes} is not a supported schedule (allowed minutes: {_join(SCHEDULE_MINUTES)})")
        return minutes


class Answers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project_name: Annotated[str, at.MinLen(1), at.MaxLen(64)] = Field(
        "my-beta", description="project name; its slug names AWS resources"
    )
    aws_region: str = Field("us-east-1", description="AWS region for the stack")
    users: Annotated[int, at.Ge(1), at.Le(MAX_USERS)] = Field(50, description="expected active users")
    aws_budget: Positive = Field(
        300, description="monthly infrastructure budget, USD (AWS plus Vercel and Upstash, as the reference)"
    )
    ai_budget: NonNegative = Field(1000, description="monthly Azure AI budget, USD")
    workers: tuple[str, ...] = Field(WORKERS, description="workers to generate")
    # Generally available models only (the catalog's lifecycle; a test checks it).
    trends_model: str = Field("DeepSeek-V3.2", description="Azure AI model for content trends")
    video_model: str = Field("Phi-4-multimodal-instruct", description="Azure AI model for video tagging")
    alerts_model: str = Field("DeepSeek-V3.2", description="Azure AI model for alert explanations")
    alert_email: str = Field("alerts@example.com", description="e-mail for budget and alarm notifications")
    hosting_profile: str = Field("aws-lambda", description="where the workers run")
    cache_engine: Literal["valkey", "redis"] = Field("valkey", description="ElastiCache engine")
    budget_alert_thresholds: tuple[int, ...] = Field(
        (50, 80, 100),
        description="budget alerts, percent of each budget: AWS Budgets (the AWS part) and the AI spend guard "
        "(up to 100%, where it stops model calls)",
    )
    usage: UsageProfile = Field(default_factory=UsageProfile, description="per-user usage assumptions")
    custom_workers: tuple[CustomWorker, ...] = Field(
        (), description="the founder's own workers (plan/custom_workers.py): name, trigger, schedule, model, volumes"
    )

    @field_validator("project_name")
    @classmethod
    def _has_slug(cls, name: str) -> str:
        if not slugify(name):
            raise ValueError(f"{name!r} has no letter or digit to build a resource name from")
        return name

    @field_validator("aws_region")
    @classmethod
    def _supported_region(cls, region: str) -> str:
        regions = load_catalog().regions
        if region not in regions:
            raise ValueError(f"{region!r} is not supported (allowed: {_join(regions)})")
        return region

    @field_validator("workers", "budget_alert_thresholds", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        """A list answer may be given as `a,b` (estimate's flags, copier's -d)."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("workers")
    @classmethod
    def _known_workers(cls, workers: tuple[str, ...]) -> tuple[str, ...]:
        if not workers:
            raise ValueError(f"choose at least one worker (allowed: {_join(WORKERS)})")
        for worker in workers:
            if worker not in WORKERS:
                raise ValueError(f"{worker!r} is not a worker (allowed: {_join(WORKERS)})")
        if len(set(workers)) != len(workers):
            raise ValueError("a worker is listed twice")
        # Canonical order, so the same set always renders the same bytes.
        return tuple(w for w in WORKERS if w in workers)

    @field_validator("custom_workers", mode="before")
    @classmethod
    def _custom_workers(cls, value: Any) -> tuple[CustomWorker, ...]:
        return parse_custom_workers(value)

    @field_validator("alert_email")
    @classmethod
    def _email(cls, email: str) -> str:
        if not _EMAIL.match(email):
            raise ValueError(f"{email!r} is not an e-mail address (allowed: name@domain.tld)")
        return email

    @field_validator("hosting_profile")
    @classmethod
    def _profile(cls, profile: str) -> str:
        profiles = load_rules().hosting_profiles
        supported = [name for name, p in profiles.items() if p.supported]
        if profile not in profiles:
            raise ValueError(f"{profile!r} is not a hosting profile (allowed: {_join(supported)})")
        if not profiles[profile].supported:
            raise ValueError(f"{profile!r} is planned but not supported yet (allowed: {_join(supported)})")
        return profile

    @field_validator("budget_alert_thresholds")
    @classmethod
    def _thresholds(cls, thresholds: tuple[int, ...]) -> tuple[int, ...]:
        allowed = "1 to 5 ascending percentages between 1 and 200"
        ascending = all(a < b for a, b in itertools.pairwise(thresholds))
        if not 1 <= len(thresholds) <= 5 or not ascending or not all(1 <= t <= 200 for t in thresholds):
            raise ValueError(f"{list(thresholds)} is not valid (allowed: {allowed})")
        return thresholds

    @model_validator(mode="after")
    def _models_fit_their_use(self, info: ValidationInfo) -> Answers:
        catalog, rules = load_catalog(), load_rules()
        # Pricing the reference document's own (since retired) choices is the one use of a retired model.
        allow_retired = bool((info.context or {}).get(ALLOW_RETIRED_MODELS))
        for use, spec in rules.model_uses.items():
            field = f"{use}_model"
            model = getattr(self, field)
            available = catalog.available_models(spec.needs)
            known = catalog.models.get(model)
            if known is not None and known.lifecycle.retired and not allow_retired:
                problem = f"{model!r} was {known.lifecycle.describe()}"
                if known.lifecycle.successor and known.lifecycle.successor not in available:
                    problem += ", not in the price catalog yet"
                raise AnswerError(field, problem, _join(available))
            if known is None or not set(spec.needs) <= set(known.capabilities):
                raise AnswerError(field, f"{model!r} cannot serve {use}", _join(available))
        return self

    @property
    def project_slug(self) -> str:
        return slugify(self.project_name)

    def model_for(self, use: str) -> str:
        return str(getattr(self, f"{use}_model"))


def slugify(name: str) -> str:
    """A name safe for AWS resources (S3 buckets included): lowercase letters, digits and single dashes,
    starting with a letter, at most 32 characters so that suffixes still fit in 63."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if slug and not slug[0].isalpha():
        slug = f"b-{slug}"
    return slug[:32].rstrip("-")


def _join(values: Any) -> str:
    return ", ".join(str(v) for v in values)


def parse_answers(data: Mapping[str, Any]) -> Answers:
    """Validate raw answers (copier's, a YAML file's, CLI flags'); keys starting with '_' are copier's."""
    clean = {k: v for k, v in data.items() if not str(k).startswith("_") and k != "project_slug"}
    try:
        return Answers.model_validate(clean)
    except AnswerError:
        raise
    except ValidationError as exc:
        raise _as_answer_error(exc) from None


def check_answer(field: str, value: Any) -> str:
    """The error for one answer given alone, or '' when it is valid (copier's validators use this)."""
    try:
        parse_answers({field: value})
    except AnswerError as exc:
        return str(exc)
    return ""


def _as_answer_error(exc: ValidationError) -> AnswerError:
    error = exc.errors(include_url=False)[0]
    loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
    field = ".".join(loc) or "answers"
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        parent = UsageProfile if loc[:1] == ["usage"] and len(loc) > 1 else Answers
        return AnswerError(field, "is not a known answer", _join(parent.model_fields))
    if kind == "value_error":
        # Our own validators already say what is allowed.
        return AnswerError(field, str(ctx.get("error", error["msg"])))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return AnswerError(field, f"{given!r} is not allowed", expected)
    return AnswerError(field, f"{given!r} is not valid", _allowed(loc))


def _allowed(loc: list[str]) -> str:
    model: type[BaseModel] = Answers
    if loc[:1] == ["usage"] and len(loc) > 1:
        model, loc = UsageProfile, loc[1:]
    info = model.model_fields.get(loc[0]) if loc else None
    if info is None:
        return "a mapping of answers"
    kinds: dict[object, str] = {
        int: "an integer",
        float: "a finite number",
        str: "text",
        tuple[str, ...]: "a list of names",
        tuple[int, ...]: "a list of integers",
    }
    kind = kinds.get(info.annotation, "a value")
    bounds = []
    for meta in info.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{symbol} {getattr(meta, attr)}")
        if getattr(meta, "min_length", None) is not None:
            bounds.append(f"at least {meta.min_length} characters")
        if getattr(meta, "max_length", None) is not None:
            bounds.append(f"at most {meta.max_length} characters")
    return f"{kind} {' and '.join(bounds)}".strip()
