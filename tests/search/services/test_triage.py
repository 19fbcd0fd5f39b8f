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


# --- Every rule at its edges: a threshold moved by one must fail a test here. -----------------


@pytest.mark.parametrize(
    ("overrides", "total", "priority"),
    [
        # adult 6 + age 3 + medical 1 + severe weather 1 + elapsed: under 3 h 3, from 3 h 2
        ({"has_medical_needs": True, "weather": "severe"}, 14, Priority.NORMAL),
        (
            {"has_medical_needs": True, "weather": "severe", "elapsed": timedelta(hours=3)},
            13,
            Priority.HIGH,
        ),
        # child 4 + age 12: 1 + medical 1 + severe 1 + elapsed
        (
            {"category": "child", "age": 12, "has_medical_needs": True, "weather": "severe"},
            10,
            Priority.HIGH,
        ),
        (
            {
                "category": "child",
                "age": 12,
                "has_medical_needs": True,
                "weather": "severe",
                "elapsed": timedelta(hours=3),
            },
            9,
            Priority.CRITICAL,
        ),
    ],
    ids=["14 normal", "13 high", "10 high", "9 critical"],
)
def test_the_totals_on_both_sides_of_each_threshold(overrides, total, priority):
    result = run(**overrides)
    assert (result.total, result.priority) == (total, priority)
    assert result.reasons[5] == {"code": "total", "value": total}


@pytest.mark.parametrize(
    ("age", "rating"),
    [(0, 1), (12, 1), (13, 3), (40, 3), (74, 3), (75, 1), (110, 1), (None, 2)],
)
def test_age_is_rated_at_its_edges(age, rating):
    reason = run(age=age).reasons[1]
    assert reason == {"code": "age", "value": age, "rating": rating}


@pytest.mark.parametrize(
    ("elapsed", "rating"),
    [
        (timedelta(0), 3),
        (timedelta(hours=3) - timedelta(seconds=1), 3),
        (timedelta(hours=3), 2),
        (timedelta(hours=12) - timedelta(seconds=1), 2),
        (timedelta(hours=12), 1),
        (timedelta(days=3), 1),
        (timedelta(hours=-1), 3),
    ],
)
def test_elapsed_time_is_rated_at_its_edges(elapsed, rating):
    reason = run(elapsed=elapsed).reasons[4]
    assert reason["rating"] == rating
    assert reason["value"] == round(max(elapsed.total_seconds(), 0) / 3600, 1)


@pytest.mark.parametrize(
    ("category", "rating"),
    [
        ("young_child", 1),
        ("dementia", 1),
        ("despondent", 1),
        ("autism", 1),
        ("intellectual_disability", 1),
        ("child", 2),
        ("youth", 2),
        ("other", 2),
        ("adult", 3),
    ],
)
def test_each_category_has_its_rating_weighted_twice(category, rating):
    result = run(category=category)
    assert result.reasons[0] == {"code": "category", "value": category, "rating": rating}
    assert result.total == 18 - (3 - rating) * 2


@pytest.mark.parametrize(("weather", "rating"), [("severe", 1), ("moderate", 2), ("none", 3)])
def test_weather_is_rated(weather, rating):
    result = run(weather=weather)
    assert result.reasons[3] == {"code": "weather", "value": weather, "rating": rating}
    assert result.total == 18 - (3 - rating)


@pytest.mark.parametrize(
    ("needs", "medication", "code", "rating"),
    [
        (False, False, "no_medical", 3),
        (True, False, "medical", 1),
        (False, True, "medical", 1),
        (True, True, "medical", 1),
    ],
)
def test_medical_needs_or_medication_rate_one(needs, medication, code, rating):
    reason = run(has_medical_needs=needs, has_medication=medication).reasons[2]
    assert reason == {"code": code, "rating": rating}


@pytest.mark.parametrize(
    ("elapsed", "priority", "rule"),
    [
        (timedelta(hours=3) - timedelta(seconds=1), Priority.NORMAL, False),
        (timedelta(hours=3), Priority.HIGH, True),
    ],
)
def test_the_medication_rule_starts_at_three_hours(elapsed, priority, rule):
    # adult 6 + age 3 + medication 1 + no weather 3 + elapsed: alone it stays normal.
    result = run(has_medication=True, elapsed=elapsed)
    assert result.priority == priority
    assert ({"code": "rule_medication"} in result.reasons) is rule


def test_the_medication_rule_never_lowers_a_higher_priority():
    result = run(category="dementia", age=80, has_medication=True, weather="severe",
                 elapsed=timedelta(hours=4))  # fmt: skip
    assert result.priority == Priority.CRITICAL
    assert {"code": "rule_medication"} not in result.reasons


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"self_harm_risk": True}, "rule_self_harm"),
        ({"category": "despondent"}, "rule_self_harm"),
        ({"category": "young_child", "age": 5}, "rule_young_child"),
    ],
)
def test_overrides_make_critical_whatever_the_total(overrides, rule):
    result = run(**overrides)
    assert result.priority == Priority.CRITICAL
    assert {"code": rule} in result.reasons
    assert result.total > 9 or overrides.get("category") == "despondent"


def test_a_calm_case_gives_no_override_reason():
    codes = [r["code"] for r in run().reasons]
    assert codes == ["category", "age", "no_medical", "weather", "elapsed", "total"]


def test_reason_text_fills_every_template():
    assert reason_text({"code": "age", "value": None, "rating": 2}) == "Age ?: rated 2"
    assert reason_text({"code": "elapsed", "value": 3.5, "rating": 2}) == (
        "3.5 h since last seen: rated 2"
    )
    assert reason_text({"code": "weather", "value": "severe", "rating": 1}).startswith(
        "Weather exposure Severe"
    )
    assert reason_text({"code": "total", "value": 12}) == (
        "Total 12 (critical up to 9, high up to 13)"
    )
    assert reason_text({"code": "no_such_rule"}) == "no_such_rule"


@pytest.mark.parametrize(
    ("elapsed", "hours"),
    [(timedelta(minutes=90), 1.5), (timedelta(minutes=100), 1.7), (timedelta(hours=-2), 0.0)],
)
def test_elapsed_hours_are_given_to_a_tenth(elapsed, hours):
    assert run(elapsed=elapsed).reasons[4]["value"] == hours


def test_the_medication_rule_leaves_a_case_already_high_alone():
    # adult 6 + age 3 + medication 1 + severe 1 + elapsed 3 h 2 = 13: high by the total.
    result = run(has_medication=True, weather="severe", elapsed=timedelta(hours=3))
    assert result.priority == Priority.HIGH
    assert {"code": "rule_medication"} not in result.reasons


def test_reason_text_gives_the_age():
    assert reason_text({"code": "age", "value": 7, "rating": 1}) == "Age 7: rated 1"
