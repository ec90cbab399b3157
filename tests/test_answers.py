"""Answers: defaults reproduce the reference (with generally available models where the reference's are
retired); every invalid value names its field and what is allowed."""

from __future__ import annotations

import pytest

from generator.errors import AnswerError
from generator.plan.answers import ALLOW_RETIRED_MODELS, WORKERS, Answers, check_answer, parse_answers, slugify
from generator.plan.catalog import load_catalog
from generator.plan.rules import load_rules


def test_defaults_are_the_reference_scenario() -> None:
    answers = Answers()
    assert (answers.users, answers.aws_region, answers.aws_budget, answers.ai_budget) == (50, "us-east-1", 300, 1000)
    assert answers.workers == WORKERS
    assert (answers.trends_model, answers.video_model, answers.alerts_model) == (
        "DeepSeek-V3.2",
        "Phi-4-multimodal-instruct",
        "DeepSeek-V3.2",
    )
    assert answers.cache_engine == "valkey"


def test_default_models_are_generally_available() -> None:
    catalog = load_catalog()
    for use in load_rules().model_uses:
        assert catalog.models[Answers().model_for(use)].lifecycle.stage == "generally-available", use


@pytest.mark.parametrize(
    ("field", "model", "successor"),
    [("alerts_model", "DeepSeek-R1", "DeepSeek-V4-Pro"), ("trends_model", "DeepSeek-V3", "DeepSeek-V4-Flash")],
)
def test_a_retired_model_is_refused_naming_its_successor(field: str, model: str, successor: str) -> None:
    lifecycle = load_catalog().models[model].lifecycle
    assert lifecycle.retired
    with pytest.raises(AnswerError) as caught:
        parse_answers({field: model})
    message = str(caught.value)
    assert caught.value.field == field and "\n" not in message
    assert f"'{model}' was retired" in message and successor in message
    if lifecycle.retired_on:
        assert lifecycle.retired_on in message
    # What is allowed instead: available models only, never a retired one.
    allowed = message.split("(allowed: ")[1].rstrip(")").split(", ")
    assert "DeepSeek-V3.2" in allowed and model not in allowed
    assert not any(load_catalog().models[m].lifecycle.retired for m in allowed)


def test_the_reference_models_are_accepted_only_to_price_the_reference() -> None:
    refs = {f"{use}_model": spec.reference for use, spec in load_rules().model_uses.items()}
    answers = Answers.model_validate(refs, context={ALLOW_RETIRED_MODELS: True})
    assert answers.alerts_model == "DeepSeek-R1"
    with pytest.raises(AnswerError):
        parse_answers(refs)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"users": 0}, "users", ">= 1"),
        ({"users": 100_001}, "users", "<= 100000"),
        ({"users": "many"}, "users", "an integer"),
        ({"aws_region": "mars-1"}, "aws_region", "us-east-1, us-west-2"),
        ({"aws_budget": -5}, "aws_budget", "> 0"),
        ({"ai_budget": -1}, "ai_budget", ">= 0"),
        ({"workers": ["video_processing", "mining"]}, "workers", "alert_checker"),
        ({"workers": []}, "workers", "at least one worker"),
        ({"cache_engine": "memcached"}, "cache_engine", "valkey, redis"),
        ({"hosting_profile": "vercel-upstash"}, "hosting_profile", "aws-lambda"),
        ({"hosting_profile": "heroku"}, "hosting_profile", "aws-lambda"),
        ({"alert_email": "not-an-email"}, "alert_email", "name@domain.tld"),
        ({"video_model": "DeepSeek-V3"}, "video_model", "Phi-4-multimodal-instruct"),
        ({"trends_model": "GPT-9"}, "trends_model", "DeepSeek-V3.2"),
        ({"project_name": "!!!"}, "project_name", "letter or digit"),
        ({"budget_alert_thresholds": [80, 50]}, "budget_alert_thresholds", "ascending"),
        ({"usage": {"storage_gb_per_user": -1}}, "usage.storage_gb_per_user", ">= 0"),
        ({"usage": {"trends_every_minutes": 7}}, "usage.trends_every_minutes", "allowed minutes"),
        ({"usage": {"warp_factor": 9}}, "usage.warp_factor", "storage_gb_per_user"),
        ({"colour": "blue"}, "colour", "aws_region"),
    ],
)
def test_invalid_answer_names_field_and_allowed(data: dict, field: str, fragment: str) -> None:
    with pytest.raises(AnswerError) as caught:
        parse_answers(data)
    assert caught.value.field == field
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert fragment in message
    assert "\n" not in message


def test_copier_keys_are_ignored_and_lists_accept_commas() -> None:
    answers = parse_answers(
        {"_commit": "v1", "_src_path": "x", "workers": "alert_checker, video_processing", "users": "12"}
    )
    # Canonical order, whatever order the user typed.
    assert answers.workers == ("video_processing", "alert_checker")
    assert answers.users == 12


def test_check_answer_is_empty_when_valid_and_the_message_otherwise() -> None:
    assert check_answer("users", 50) == ""
    assert check_answer("users", 0).startswith("users: ")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My Beta", "my-beta"),
        ("  Beta__50 users!! ", "beta-50-users"),
        ("42 things", "b-42-things"),
        ("Ünïcode Café", "n-code-caf"),
    ],
)
def test_slug_is_safe_for_aws_names(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert len(slugify("x" * 64)) <= 32
