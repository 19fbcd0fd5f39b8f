"""Priority rules: explicit, scored, with reasons."""

from datetime import timedelta

import pytest

from search.choices import Priority
from search.services.triage import reason_text, triage

CALM = {
    "category": "adult",
    "age": 35,
    "has_medical_needs": False,
    "has_medication": False,
    "weather": "none",
    "elapsed": timedelta(hours=1),
    "self_harm_risk": False,
}


def run(**overrides):
    return triage(**{**CALM, **overrides})


def test_an_adult_with_no_risk_factors_is_normal():
    result = run()

    assert result.priority == Priority.NORMAL
    assert result.total == 18


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"category": "young_child", "age": 4}, Priority.CRITICAL),
        ({"self_harm_risk": True}, Priority.CRITICAL),
        ({"category": "despondent"}, Priority.CRITICAL),
        ({"category": "dementia", "age": 81}, Priority.HIGH),
        (
            {"category": "dementia", "age": 81, "has_medication": True, "weather": "moderate"},
            Priority.CRITICAL,
        ),
        (
            {"category": "youth", "age": 15, "weather": "severe", "elapsed": timedelta(hours=14)},
            Priority.HIGH,
        ),
        ({"has_medication": True, "elapsed": timedelta(hours=4)}, Priority.HIGH),
        ({"has_medication": True, "elapsed": timedelta(hours=1)}, Priority.NORMAL),
        ({"weather": "severe", "elapsed": timedelta(hours=20)}, Priority.NORMAL),
    ],
)
def test_rules(overrides, expected):
    assert run(**overrides).priority == expected


def test_every_factor_is_given_as_a_reason_that_reads_as_a_sentence():
    result = run(category="dementia", age=81, has_medication=True, weather="moderate")

    codes = [r["code"] for r in result.reasons]
    assert codes[:6] == ["category", "age", "medical", "weather", "elapsed", "total"]
    texts = [reason_text(r) for r in result.reasons]
    assert texts[0] == "Category Elderly with dementia: rated 1"
    assert texts[5].startswith("Total 9")


def test_unknown_age_is_rated_in_the_middle():
    assert run(age=None).reasons[1]["rating"] == 2
