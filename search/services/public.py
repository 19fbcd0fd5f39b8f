"""Public alerts and the tips they bring in.

A coordinator clears a case's fields for the public, previews them and publishes: the clearance
and the approved values are stored on the alert, and the public page, the CAP messages and the
feed read only those. Updating, widening and ending are new messages referencing the first.
A tip lands as an unconfirmed sighting marked as the public's; only a coordinator's confirmation
moves the search (areas.sighting_confirm) or reaches a partner (outbound.sighting_shared).
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from search.choices import (
    LOCATED_OUTCOMES,
    AlertKind,
    CapMsgType,
    Confidence,
    EventKind,
    EventSource,
    PublicAlertReason,
    PublicAlertStatus,
    SightingKind,
    SubjectCategory,
)
from search.geo import SRID
from search.models import Case, PublicAlert, PublicAlertMessage, SearchArea, Sighting
from search.photos import clean_photo
from search.services import areas
from search.services.aid import outbound
from search.services.alerts import alert_raise
from search.services.timeline import Origin, event_record
from search.validators import check_sighting_time

# What a coordinator may clear, in the order the form and the page show them. "name" is the
# full name, "given_name" the given name alone; at most one of the two.
PUBLIC_FIELDS = (
    "photo",
    "name",
    "given_name",
    "age",
    "sex",
    "height_cm",
    "clothing",
    "description",
    "place",
    "phone",
)
# The values a coordinator types or corrects in the preview, per cleared field.
TEXT_LIMITS = {"clothing": 1000, "description": 1000, "place": 200, "phone": 32}
PHONE_PATTERN = re.compile(r"[0-9+()\- ]{3,32}")
# The public sees the centre rounded to this many decimal degrees (about a kilometre), and the
# last-seen time rounded down to this many minutes: a rough place and time, not the pin.
CENTRE_DECIMALS = 2
TIME_ROUNDING_MINUTES = 15
CHILD_CATEGORIES = {SubjectCategory.YOUNG_CHILD, SubjectCategory.CHILD, SubjectCategory.YOUTH}
TIP_FUTURE_SLACK = timedelta(minutes=5)
TIP_TEXT_MAX = 2000
PHOTO_MIME = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass
class AlertDraft:
    """What the coordinator chose: the cleared fields and the texts they approved."""

    clearance: list[str]
    texts: dict[str, str] = field(default_factory=dict)


def given_name_of(full_name: str) -> str:
    """Return the given name: a Chinese name without its (one-character) family name, or the
    first word of a name written with spaces."""
    name = " ".join(full_name.split())
    if " " in name:
        return name.split(" ")[0]
    if len(name) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in name):
        return name[1:]
    return name


def radius_km(case: Case, at: datetime) -> int:
    """Return how far the public alert reaches at that moment, by time since last seen.

    Children: the Tuanyuan schedule (shared/data/search-facts.md); others: settings.
    """
    elapsed_h = max((at - case.last_seen_at).total_seconds(), 0) / 3600
    age = case.age_on(timezone.localdate(at))
    is_child = case.category in CHILD_CATEGORIES or (age is not None and age < 18)
    schedule: Sequence[tuple[float | None, int]] = settings.PUBLIC_ALERT[  # type: ignore[assignment]  # the settings dict mixes value types
        "CHILD_RADII_KM" if is_child else "OTHER_RADII_KM"
    ]
    for hours, km in schedule:
        if hours is None or elapsed_h <= hours:
            return int(km)
    return int(schedule[-1][1])


def _rounded_time(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(
        minute=local.minute - local.minute % TIME_ROUNDING_MINUTES, second=0, microsecond=0
    )


def _text(texts: dict[str, str], key: str) -> str:
    value = (texts.get(key) or "").strip()
    if "\x00" in value:
        raise ValidationError({key: _("Null characters are not allowed.")}, code="null")
    if not value:
        raise ValidationError({key: _("Give the text the public will see.")}, code="required")
    if len(value) > TEXT_LIMITS[key]:
        raise ValidationError(
            {key: _("At most %(n)d characters.") % {"n": TEXT_LIMITS[key]}}, code="max_length"
        )
    return value


def default_texts(case: Case) -> dict[str, str]:
    """Return the texts the preview starts from: the case's own wording, for the coordinator
    to cut down. The place starts empty: an address is too exact for the public."""
    looks = [case.build, case.hair, case.distinguishing_marks]
    return {
        "clothing": case.clothing,
        "description": "; ".join(part for part in looks if part),
        "place": "",
        "phone": str(settings.PUBLIC_ALERT["DEFAULT_PHONE"]),
    }


def content_build(case: Case, draft: AlertDraft, *, now: datetime) -> dict[str, Any]:
    """Return the public content for the draft, or raise ValidationError naming the field."""
    cleared = [key for key in PUBLIC_FIELDS if key in set(draft.clearance)]
    unknown = set(draft.clearance) - set(PUBLIC_FIELDS)
    if unknown:
        raise ValidationError({"clearance": _("Unknown field: %(f)s.") % {"f": min(unknown)}})
    if not cleared:
        raise ValidationError(
            {"clearance": _("Clear at least one field for the public.")}, code="empty"
        )
    if "name" in cleared and "given_name" in cleared:
        raise ValidationError(
            {"clearance": _("Clear either the full name or the given name, not both.")}
        )
    content: dict[str, Any] = {}
    for key in cleared:
        if key == "photo":
            if not case.photo:
                raise ValidationError({"clearance": _("The case has no photo to clear.")})
        elif key == "name":
            content["name"] = case.subject_name
        elif key == "given_name":
            content["name"] = given_name_of(case.subject_name)
        elif key == "age":
            age = case.age_on(timezone.localdate(now))
            if age is None:
                raise ValidationError({"clearance": _("The case gives no age to clear.")})
            content["age"] = age
        elif key == "sex":
            content["sex"] = case.sex
        elif key == "height_cm":
            if not case.height_cm:
                raise ValidationError({"clearance": _("The case gives no height to clear.")})
            content["height_cm"] = case.height_cm
        elif key == "place":
            content["place"] = _text(draft.texts, "place")
            content["seen_at"] = _rounded_time(case.last_seen_at).isoformat()
        elif key == "phone":
            phone = _text(draft.texts, "phone")
            if not PHONE_PATTERN.fullmatch(phone):
                raise ValidationError({"phone": _("Give a phone number: digits, +, -, ( ).")})
            content["phone"] = phone
        else:
            content[key] = _text(draft.texts, key)
    return content


def _centre(case: Case) -> Point:
    area = case.areas.filter(is_current=True).only("centre").first()
    point = area.centre if area else case.last_seen_point
    return Point(round(point.x, CENTRE_DECIMALS), round(point.y, CENTRE_DECIMALS), srid=SRID)


def _copy_photo(alert: PublicAlert, case: Case) -> None:
    with case.photo.open("rb") as source:
        data = source.read()
    extension = (case.photo.name or "").rsplit(".", 1)[-1].lower()
    alert.photo.save(f"{alert.identifier}.{extension}", ContentFile(data), save=False)
    alert.photo_size = len(data)
    # CAP 1.2 names SHA-1 as the resource digest.
    alert.photo_sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _clear_photo(alert: PublicAlert) -> None:
    if alert.photo:
        alert.photo.delete(save=False)
    alert.photo = ""
    alert.photo_size = None
    alert.photo_sha1 = ""


def _message_write(
    alert: PublicAlert, *, msg_type: str, reason: str, now: datetime
) -> PublicAlertMessage:
    last = alert.messages.aggregate(n=Max("number"))["n"] or 0
    number = last + 1
    area = (
        SearchArea.objects.filter(case_id=alert.case_id, is_current=True).only("boundary").first()
    )
    content = dict(alert.content)
    if "photo" in alert.clearance and alert.photo:
        extension = (alert.photo.name or "").rsplit(".", 1)[-1].lower()
        content["photo"] = {
            "mime": PHOTO_MIME.get(extension, "image/jpeg"),
            "size": alert.photo_size,
            "sha1": alert.photo_sha1,
        }
    return PublicAlertMessage.objects.create(
        alert=alert,
        number=number,
        identifier=alert.identifier if number == 1 else f"{alert.identifier}-{number}",
        msg_type=msg_type,
        reason=reason,
        sent=now,
        priority=alert.case.priority,
        clearance=list(alert.clearance),
        content=content,
        radius_km=radius_km(alert.case, now),
        area=area.boundary if area and reason != PublicAlertReason.FOUND else None,
    )


def _require_coordinating(origin: Origin) -> None:
    areas.require_steering(origin)


def _locked_active(alert: PublicAlert, expected_version: int | None) -> PublicAlert:
    locked = PublicAlert.objects.select_for_update().select_related("case").get(pk=alert.pk)
    if locked.status != PublicAlertStatus.ACTIVE:
        raise ValidationError(_("This alert has ended; publish a new one if needed."))
    if expected_version is not None and locked.version != expected_version:
        raise ValidationError(
            _("Someone changed this alert meanwhile; reload the page and check it again.")
        )
    return locked


@transaction.atomic
def alert_publish(
    *, origin: Origin, case: Case, draft: AlertDraft, now: datetime | None = None
) -> PublicAlert:
    """Publish a public alert for an open case: the first CAP message (Alert)."""
    _require_coordinating(origin)
    now = now or timezone.now()
    case = Case.objects.select_for_update().select_related("organisation").get(pk=case.pk)
    if not case.is_open:
        raise ValidationError(_("The case is closed: there is nothing to alert the public to."))
    if case.public_alerts.filter(status=PublicAlertStatus.ACTIVE).exists():
        raise ValidationError(_("The case has an active alert already: update it instead."))
    alert = PublicAlert(
        case=case,
        clearance=[key for key in PUBLIC_FIELDS if key in set(draft.clearance)],
        content=content_build(case, draft, now=now),
        centre=_centre(case),
        published_by=origin.actor,
        published_at=now,
    )
    if "photo" in alert.clearance:
        _copy_photo(alert, case)
    try:
        with transaction.atomic():
            alert.save()
    except IntegrityError as exc:  # a second publish raced this one past the check above
        raise ValidationError(
            _("The case has an active alert already: update it instead.")
        ) from exc
    _send(alert, origin, msg_type=CapMsgType.ALERT, reason=PublicAlertReason.PUBLISHED, now=now)
    return alert


@transaction.atomic
def alert_update(
    *, origin: Origin, alert: PublicAlert, draft: AlertDraft, expected_version: int
) -> PublicAlertMessage:
    """Change what the public sees: an Update message referencing the earlier ones."""
    _require_coordinating(origin)
    now = timezone.now()
    alert = _locked_active(alert, expected_version)
    case = alert.case
    if not case.is_open:
        raise ValidationError(_("The case is closed: end the alert instead."))
    alert.content = content_build(case, draft, now=now)
    alert.clearance = [key for key in PUBLIC_FIELDS if key in set(draft.clearance)]
    _clear_photo(alert)
    if "photo" in alert.clearance:
        _copy_photo(alert, case)
    alert.centre = _centre(case)
    alert.version = F("version") + 1
    alert.save()
    alert.refresh_from_db()
    message = _send(
        alert, origin, msg_type=CapMsgType.UPDATE, reason=PublicAlertReason.UPDATED, now=now
    )
    return message


@transaction.atomic
def alert_end(
    *,
    origin: Origin,
    alert: PublicAlert,
    found: bool,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> PublicAlertMessage:
    """End the alert: found (the page thanks the public, with no detail and no photo) or
    withdrawn. A Cancel message referencing the earlier ones."""
    if origin.source != EventSource.SYSTEM:
        _require_coordinating(origin)
    now = now or timezone.now()
    alert = _locked_active(alert, expected_version)
    alert.status = PublicAlertStatus.FOUND if found else PublicAlertStatus.WITHDRAWN
    alert.ended_at = now
    # Nothing of the person stays public once the alert ends.
    alert.content = {}
    alert.clearance = []
    _clear_photo(alert)
    alert.version = F("version") + 1
    alert.save()
    alert.refresh_from_db()
    reason = PublicAlertReason.FOUND if found else PublicAlertReason.WITHDRAWN
    return _send(alert, origin, msg_type=CapMsgType.CANCEL, reason=reason, now=now)


def _send(
    alert: PublicAlert, origin: Origin, *, msg_type: str, reason: str, now: datetime
) -> PublicAlertMessage:
    """Write the alert's next message and put it on the case's timeline."""
    message = _message_write(alert, msg_type=msg_type, reason=reason, now=now)
    event_record(
        case=alert.case,
        kind=EventKind.PUBLIC_ALERT,
        origin=origin,
        data={
            "alert": alert.identifier,
            "message": message.identifier,
            "msg_type": message.msg_type,
            "reason": message.reason,
            "cleared": list(message.clearance),
            "radius_km": message.radius_km,
        },
    )
    return message


def alerts_tick(*, now: datetime | None = None) -> dict[str, int]:
    """The beat's pass over active alerts: widen each whose circle has grown (an Update), and end
    those whose case has closed (a Cancel). Each alert in its own transaction."""
    now = now or timezone.now()
    widened = ended = 0
    latest = PublicAlertMessage.objects.filter(alert=OuterRef("pk")).order_by("-number")
    active = PublicAlert.objects.active().select_related("case")
    # Each alert's last radius in the same query: one query however many alerts are live.
    for alert in active.annotate(last_radius=Subquery(latest.values("radius_km")[:1])):
        last = alert.last_radius
        with transaction.atomic():
            case = alert.case
            if not case.is_open:
                try:
                    alert_end(
                        origin=Origin.system(),
                        alert=alert,
                        found=case.outcome in LOCATED_OUTCOMES,
                        now=now,
                    )
                    ended += 1
                except ValidationError:
                    pass  # ended meanwhile by a coordinator
                continue
            if last is not None and radius_km(case, now) > last:
                try:
                    locked = _locked_active(alert, None)
                except ValidationError:
                    continue
                _send(
                    locked,
                    Origin.system(),
                    msg_type=CapMsgType.UPDATE,
                    reason=PublicAlertReason.WIDENED,
                    now=now,
                )
                widened += 1
    return {"widened": widened, "ended": ended}


# --- Tips from the public ------------------------------------------------------------------------


@dataclass
class TipInput:
    seen_at: datetime
    point: Point
    description: str
    phone: str = ""
    photo: Any = None


@transaction.atomic
def tip_record(*, alert: PublicAlert, tip: TipInput, now: datetime | None = None) -> Sighting:
    """Record a tip as an unconfirmed sighting of the public's, for the coordinator's triage.

    It neither moves the search nor reaches a partner until a coordinator confirms it.
    """
    now = now or timezone.now()
    alert = PublicAlert.objects.select_related("case").get(pk=alert.pk)
    if not alert.is_active or not alert.case.is_open:
        raise ValidationError(_("This alert has ended: thank you, no more tips are needed."))
    case = alert.case
    if tip.seen_at > now + TIP_FUTURE_SLACK:
        raise ValidationError({"seen_at": _("That time is in the future.")}, code="future")
    check_sighting_time(tip.seen_at, last_seen_at=case.last_seen_at)
    description = (tip.description or "").strip()
    if "\x00" in description:
        raise ValidationError({"description": _("Null characters are not allowed.")})
    if not description:
        raise ValidationError({"description": _("Say what you saw.")}, code="required")
    if len(description) > TIP_TEXT_MAX:
        raise ValidationError({"description": _("At most %(n)d characters.") % {"n": TIP_TEXT_MAX}})
    phone = (tip.phone or "").strip()
    if phone and not PHONE_PATTERN.fullmatch(phone):
        raise ValidationError({"phone": _("Give a phone number: digits, +, -, ( ).")})
    sighting = Sighting(
        case=case,
        kind=SightingKind.SIGHTING,
        point=tip.point,
        seen_at=tip.seen_at,
        description=description,
        source="public",
        confidence=Confidence.POSSIBLE,
        public_alert=alert,
        tip_phone=phone,
    )
    if tip.photo:
        sighting.photo = clean_photo(tip.photo)
    sighting.full_clean(exclude=["photo"])
    sighting.save()
    alert_raise(
        case=case,
        kind=AlertKind.PUBLIC_TIP,
        message=f"Tip from the public: {description[:120]}",
    )
    event_record(
        case=case,
        kind=EventKind.SIGHTING_REPORTED,
        origin=Origin(actor=None, source=EventSource.PUBLIC),
        data={
            "sighting": sighting.pk,
            "kind": SightingKind.SIGHTING,
            "confidence": Confidence.POSSIBLE,
            "public_alert": alert.identifier,
            "at": [round(tip.point.x, 6), round(tip.point.y, 6)],
        },
    )
    return sighting


@transaction.atomic
def sighting_confirm(*, origin: Origin, sighting: Sighting) -> SearchArea | None:
    """Confirm a sighting (areas.sighting_confirm); a public tip then also reaches the partners,
    which an unconfirmed one never does."""
    area = areas.sighting_confirm(origin=origin, sighting=sighting)
    if area is not None and sighting.is_public_tip:
        outbound.sighting_shared(
            case=sighting.case,
            point=sighting.point,
            data={
                "kind": sighting.kind,
                "point": {"type": "Point", "coordinates": [sighting.point.x, sighting.point.y]},
                "seen_at": sighting.seen_at.isoformat(),
                "description": sighting.description,
                "confidence": "confirmed",
            },
        )
    return area
