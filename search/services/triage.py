"""Priority from explicit, scored rules, shown to the clerk with its reasons.

In the spirit of the New Zealand land SAR search urgency scale (shared/data/search-facts.md):
each factor is rated 1 (most urgent) to 3 (least), weighted, and summed; a lower total is more
urgent. A few findings override the sum outright, because for them any delay is dangerous.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from search.choices import Priority, SubjectCategory, WeatherExposure

# Category rating: who is most at risk on their own (search-facts: child, dementia, despondent).
CATEGORY_RATING = {
    SubjectCategory.YOUNG_CHILD: 1,
    SubjectCategory.DEMENTIA: 1,
    SubjectCategory.DESPONDENT: 1,
    SubjectCategory.AUTISM: 1,
    SubjectCategory.INTELLECTUAL_DISABILITY: 1,
    SubjectCategory.CHILD: 2,
    SubjectCategory.YOUTH: 2,
    SubjectCategory.OTHER: 2,
    SubjectCategory.ADULT: 3,
}
CATEGORY_WEIGHT = 2
WEATHER_RATING = {WeatherExposure.SEVERE: 1, WeatherExposure.MODERATE: 2, WeatherExposure.NONE: 3}
# Elapsed time: exposure, dehydration and distance travelled all grow with it.
ELAPSED_URGENT = timedelta(hours=12)
ELAPSED_CONCERNING = timedelta(hours=3)
AGE_VULNERABLE_UNDER = 13
AGE_VULNERABLE_FROM = 75
# Totals run from 6 (everything urgent) to 18 (nothing is).
CRITICAL_AT_MOST = 9
HIGH_AT_MOST = 13

REASON_TEXT = {
    "mutual_aid": _("Priority given by %(label)s, the city that asked for aid"),
    "category": _("Category %(label)s: rated %(rating)s"),
    "age": _("Age %(age)s: rated %(rating)s"),
    "medical": _("Medical needs or medication: rated %(rating)s"),
    "no_medical": _("No medical needs recorded: rated %(rating)s"),
    "weather": _("Weather exposure %(label)s: rated %(rating)s"),
    "elapsed": _("%(hours)s h since last seen: rated %(rating)s"),
    "total": _("Total %(total)s (critical up to %(critical)s, high up to %(high)s)"),
    "rule_self_harm": _("At risk of self-harm: always critical"),
    "rule_young_child": _("Young child: always critical"),
    "rule_medication": _("Depends on medication and missing over 3 h: at least high"),
}


@dataclass
class Triage:
    priority: Priority
    total: int
    reasons: list[dict] = field(default_factory=list)


def triage(
    *,
    category: str,
    age: int | None,
    has_medical_needs: bool,
    has_medication: bool,
    weather: str,
    elapsed: timedelta,
    self_harm_risk: bool,
) -> Triage:
    """Return the priority with every rule that produced it."""
    reasons: list[dict] = []
    category_rating = CATEGORY_RATING[SubjectCategory(category)]
    reasons.append({"code": "category", "value": category, "rating": category_rating})
    total = category_rating * CATEGORY_WEIGHT

    if age is None:
        age_rating = 2
    elif age < AGE_VULNERABLE_UNDER or age >= AGE_VULNERABLE_FROM:
        age_rating = 1
    else:
        age_rating = 3
    reasons.append({"code": "age", "value": age, "rating": age_rating})
    total += age_rating

    medical_rating = 1 if (has_medical_needs or has_medication) else 3
    reasons.append(
        {"code": "medical" if medical_rating == 1 else "no_medical", "rating": medical_rating}
    )
    total += medical_rating

    weather_rating = WEATHER_RATING[WeatherExposure(weather)]
    reasons.append({"code": "weather", "value": weather, "rating": weather_rating})
    total += weather_rating

    if elapsed >= ELAPSED_URGENT:
        elapsed_rating = 1
    elif elapsed >= ELAPSED_CONCERNING:
        elapsed_rating = 2
    else:
        elapsed_rating = 3
    hours = round(max(elapsed.total_seconds(), 0) / 3600, 1)
    reasons.append({"code": "elapsed", "value": hours, "rating": elapsed_rating})
    total += elapsed_rating

    if total <= CRITICAL_AT_MOST:
        priority = Priority.CRITICAL
    elif total <= HIGH_AT_MOST:
        priority = Priority.HIGH
    else:
        priority = Priority.NORMAL
    reasons.append({"code": "total", "value": total})

    if self_harm_risk or category == SubjectCategory.DESPONDENT:
        priority = Priority.CRITICAL
        reasons.append({"code": "rule_self_harm"})
    if category == SubjectCategory.YOUNG_CHILD:
        priority = Priority.CRITICAL
        reasons.append({"code": "rule_young_child"})
    if has_medication and elapsed >= ELAPSED_CONCERNING and priority > Priority.HIGH:
        priority = Priority.HIGH
        reasons.append({"code": "rule_medication"})
    return Triage(priority=priority, total=total, reasons=reasons)


def reason_text(reason: dict) -> str:
    """Return one stored reason as a sentence in the active language."""
    code = str(reason.get("code"))
    template = REASON_TEXT.get(code)
    if template is None:
        return str(code)
    label = reason.get("value")
    if code == "category":
        label = SubjectCategory(str(label)).label
    elif code == "weather":
        label = WeatherExposure(str(label)).label
    return template % {
        "label": label,
        "rating": reason.get("rating"),
        "age": reason.get("value") if reason.get("value") is not None else "?",
        "hours": reason.get("value"),
        "total": reason.get("value"),
        "critical": CRITICAL_AT_MOST,
        "high": HIGH_AT_MOST,
    }
