"""Opening and editing cases: every write is one transaction with its timeline event."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from search import permissions
from search.choices import EventKind, Priority
from search.models import PLACE_FIELDS, REPORT_FIELDS, Case
from search.photos import clean_photo
from search.selectors import point_in_any_jurisdiction
from search.services import lifecycle
from search.services.timeline import Origin, event_record
from search.services.triage import Triage, triage
from search.validators import (
    CLOCK_SKEW,
    MAX_LAST_SEEN_YEARS,
    as_utc,
    check_birth_date,
    check_moment,
    years_before,
)

# Fields the service copies from a report: what it says and where.
INTAKE_FIELDS = (*REPORT_FIELDS, *PLACE_FIELDS)
# What changes the computed priority when edited.
TRIAGE_FIELDS = {
    "category",
    "date_of_birth",
    "estimated_age",
    "medical_needs",
    "medication",
    "weather_exposure",
    "last_seen_at",
    "self_harm_risk",
}


class EditConflict(Exception):
    """Someone else saved the case after this editor opened it."""

    def __init__(self, current: Case):
        super().__init__(f"case {current.reference} is at version {current.version}")
        self.current = current


def check_timing(
    *, last_seen_at: datetime, date_of_birth: date | None = None, now: datetime | None = None
) -> None:
    """Raise ValidationError if the last-seen time is in the future, before birth or over
    MAX_LAST_SEEN_YEARS ago, or the date of birth is in the future or over MAX_AGE_YEARS ago."""
    now = now or timezone.now()
    # An offset no place has (+22:00 parses as ISO 8601) is refused before any comparison.
    last_seen_at = as_utc(last_seen_at, field="last_seen_at")
    if last_seen_at > now + CLOCK_SKEW:
        raise ValidationError(
            {"last_seen_at": _("The last-seen time is in the future.")}, code="future"
        )
    check_moment(
        last_seen_at,
        field="last_seen_at",
        earliest=years_before(now, MAX_LAST_SEEN_YEARS),
        now=now,
    )
    if date_of_birth:
        if last_seen_at.date() < date_of_birth:
            raise ValidationError(
                {"last_seen_at": _("The last-seen time is before the date of birth.")},
                code="before_birth",
            )
        check_birth_date(date_of_birth, today=timezone.localdate(now))


def subject_age(values: dict[str, Any]) -> int | None:
    """Return the subject's age on the last-seen day, from birth date or estimate."""
    probe = Case(
        date_of_birth=values.get("date_of_birth"), estimated_age=values.get("estimated_age")
    )
    return probe.age_on(timezone.localdate(values["last_seen_at"]))


def compute_triage(values: dict[str, Any], *, now: datetime | None = None) -> Triage:
    """Return the Triage for these case values."""
    now = now or timezone.now()
    last_seen_at = values["last_seen_at"]
    return triage(
        category=values["category"],
        age=subject_age(values),
        has_medical_needs=bool(values.get("medical_needs", "").strip()),
        has_medication=bool(values.get("medication", "").strip()),
        weather=values.get("weather_exposure") or "none",
        elapsed=now - last_seen_at,
        self_harm_risk=bool(values.get("self_harm_risk")),
    )


def check_age_source(values: dict[str, Any]) -> None:
    """Refuse a date of birth and an estimated age together: one of them says how old."""
    if values.get("date_of_birth") and values.get("estimated_age") is not None:
        raise ValidationError(
            {"estimated_age": _("Give a date of birth or an estimated age, not both.")},
            code="age_twice",
        )


def point_needs_confirming(point: Any) -> bool:
    """Return whether a last-seen point lies outside every known jurisdiction.

    Such a point is more often a slip of the pin than the truth: whoever files it confirms it.
    """
    return not point_in_any_jurisdiction(point)


def check_place(point: Any, *, confirmed_outside: bool) -> None:
    """Refuse a point outside every jurisdiction that nobody confirmed."""
    if point is not None and not confirmed_outside and point_needs_confirming(point):
        raise ValidationError(
            {
                "last_seen_point": _(
                    "This place is outside every known jurisdiction: confirm it to file it."
                )
            },
            code="outside_unconfirmed",
        )


@dataclass
class CaseInput:
    values: dict[str, Any]
    photo: Any = None  # an uploaded file, checked and stripped here
    # The filer saw the warning and confirms a last-seen point outside every jurisdiction.
    confirmed_outside: bool = False


@transaction.atomic
def case_open(*, origin: Origin, data: CaseInput, link_to: list[Case] | None = None) -> Case:
    """Open a case from a clerk's report: reference, priority, photo, first timeline event."""
    actor = origin.actor
    if not permissions.can_file_cases(actor):
        raise PermissionDenied(_("Only intake clerks and coordinators may file reports."))
    if actor.organisation is None:
        raise PermissionDenied(_("Your account belongs to no organisation."))
    values = {key: data.values[key] for key in INTAKE_FIELDS if key in data.values}
    for required in ("last_seen_at", "last_seen_point"):
        if values.get(required) is None:
            raise ValidationError({required: _("This field is required.")}, code="required")
    check_timing(last_seen_at=values["last_seen_at"], date_of_birth=values.get("date_of_birth"))
    check_age_source(values)
    check_place(values.get("last_seen_point"), confirmed_outside=data.confirmed_outside)
    # Stored in UTC: PostgreSQL refuses offsets past about 16 hours.
    values["last_seen_at"] = as_utc(values["last_seen_at"], field="last_seen_at")
    result = compute_triage(values)
    case = lifecycle.case_create(
        origin=origin,
        organisation=actor.organisation,
        values={
            **values,
            "priority": result.priority,
            "computed_priority": result.priority,
            "priority_reasons": result.reasons,
        },
        photo=data.photo,
    )
    if link_to:
        case_link(origin=origin, case=case, others=link_to)
    return case


@transaction.atomic
def case_link(*, origin: Origin, case: Case, others: list[Case]) -> None:
    """Link the case to others that look like the same person, on both timelines."""
    for other in others:
        if other.pk == case.pk:
            continue
        case.linked_cases.add(other)
        event_record(
            case=case, kind=EventKind.LINKED, origin=origin, data={"other": other.reference}
        )
        event_record(
            case=other, kind=EventKind.LINKED, origin=origin, data={"other": case.reference}
        )


def _display(value: Any) -> Any:
    """Return a value as the timeline stores it (points as [lon, lat])."""
    if hasattr(value, "coords"):
        return [round(c, 6) for c in value.coords]
    return value


@transaction.atomic
def case_update(*, origin: Origin, case: Case, data: CaseInput, expected_version: int) -> Case:
    """Save an edit made on version `expected_version`; raise EditConflict if it is stale."""
    if not permissions.can_edit_case(origin.actor):
        raise PermissionDenied(_("You may not edit cases."))
    current = Case.objects.select_for_update().get(pk=case.pk)
    if current.version != expected_version:
        raise EditConflict(current)
    if not current.is_open:
        raise ValidationError(_("A closed case cannot be edited."), code="closed")
    values = {key: data.values[key] for key in INTAKE_FIELDS if key in data.values}
    merged = {key: getattr(current, key) for key in INTAKE_FIELDS} | values
    check_timing(last_seen_at=merged["last_seen_at"], date_of_birth=merged.get("date_of_birth"))
    check_age_source(merged)
    if _display(values.get("last_seen_point")) != _display(current.last_seen_point):
        check_place(values.get("last_seen_point"), confirmed_outside=data.confirmed_outside)
    if "last_seen_at" in values:
        values["last_seen_at"] = as_utc(values["last_seen_at"], field="last_seen_at")
    changes = {}
    for key, new in values.items():
        old = getattr(current, key)
        if _display(old) != _display(new):
            changes[key] = {"old": _display(old), "new": _display(new)}
            setattr(current, key, new)
    if data.photo:
        current.photo = clean_photo(data.photo)
        changes["photo"] = {"old": bool(case.photo), "new": True}
    if not changes:
        return current
    if TRIAGE_FIELDS & changes.keys():
        result = compute_triage(merged)
        current.computed_priority = result.priority
        current.priority_reasons = result.reasons
        if not current.priority_override_reason:
            current.priority = result.priority
    current.full_clean(exclude=["photo", "reference", "linked_cases"])
    current.version = F("version") + 1
    current.save()
    current.refresh_from_db()
    event_record(case=current, kind=EventKind.EDITED, origin=origin, data={"changes": changes})
    return current


@transaction.atomic
def case_override_priority(*, origin: Origin, case: Case, priority: int, reason: str) -> Case:
    """Set the priority by hand, with the reason, over the computed one."""
    if not permissions.can_override_priority(origin.actor):
        raise PermissionDenied(_("Only coordinators may override the priority."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the priority is overridden.")}, code="required")
    priority = Priority(priority)
    current = Case.objects.select_for_update().get(pk=case.pk)
    old = current.priority
    current.priority = priority
    current.priority_override_reason = reason
    current.version = F("version") + 1
    current.save(update_fields=["priority", "priority_override_reason", "version", "updated_at"])
    current.refresh_from_db()
    event_record(
        case=current,
        kind=EventKind.PRIORITY_OVERRIDDEN,
        origin=origin,
        data={"old": old, "new": int(priority), "reason": reason},
    )
    return current


def case_record_sensitive_view(*, origin: Origin, case: Case, groups: set[str]) -> None:
    """Record that someone looked at the case's sensitive details."""
    if groups:
        event_record(
            case=case,
            kind=EventKind.SENSITIVE_VIEWED,
            origin=origin,
            data={"parts": sorted(groups)},
        )
