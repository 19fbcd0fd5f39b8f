"""What we tell partners: outbox rows written in the caller's transaction, delivered by relay.

The search (areas, offers, field, lifecycle) calls this module when a partner must hear of
something; nothing here calls back into the search.
"""

import json
import uuid
from typing import Any

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Partner
from search.choices import (
    AID_OPEN_STATUSES,
    AID_WORKING_STATUSES,
    AidDirection,
    AidMessageType,
    AidStatus,
    AlertKind,
    EventKind,
)
from search.geo import SRID
from search.models import APPEARANCE_FIELDS, CARE_FIELDS, Case, MutualAidRequest, OutboxMessage
from search.services import queue
from search.services.alerts import alert_raise
from search.services.queue import queue_on_commit
from search.services.timeline import Origin, event_record

# Subject fields a partner receives unless its settings say otherwise; medical detail and
# crisis notes go only to a partner whose allowed_fields names them; reporter contact never.
DEFAULT_SHARED_FIELDS = (
    "subject_name",
    "sex",
    "age",
    *APPEARANCE_FIELDS,
)
SHAREABLE_FIELDS = (*DEFAULT_SHARED_FIELDS, *CARE_FIELDS)


def required_text(value: str, field: str, message: str) -> str:
    """Return the text without surrounding blanks, or refuse it as the field's error."""
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message}, code="required")
    return value


def geojson(geometry: GEOSGeometry) -> dict:
    return json.loads(geometry.geojson)


def area_for_partner(*, case: Case, partner: Partner) -> MultiPolygon | None:
    """Return the part of the current search area inside the partner's region, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ST_AsEWKB(ST_Multi(ST_CollectionExtract(
                       ST_Intersection(a.boundary::geometry, p.region), 3)))
            FROM search_searcharea a, accounts_partner p
            WHERE a.case_id = %s AND a.is_current AND p.id = %s
              AND ST_Intersects(a.boundary::geometry, p.region)
            """,
            [case.pk, partner.pk],
        )
        row = cursor.fetchone()
    if not row or row[0] is None:
        return None
    geometry = GEOSGeometry(memoryview(bytes(row[0])))
    geometry.srid = SRID
    if geometry.empty:
        return None
    return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon(geometry, srid=SRID)


def case_summary(*, case: Case, partner: Partner) -> dict:
    """Return the minimised case summary this partner may receive."""
    allowed = set(partner.allowed_fields or DEFAULT_SHARED_FIELDS) & set(SHAREABLE_FIELDS)
    summary: dict[str, Any] = {
        "reference": case.reference,
        "category": case.category,
        "priority": case.priority,
        "last_seen_at": case.last_seen_at.isoformat(),
        "last_seen_point": {
            "type": "Point",
            "coordinates": [case.last_seen_point.x, case.last_seen_point.y],
        },
        "last_seen_place": case.last_seen_place,
        "terrain": case.terrain,
    }
    for field in sorted(allowed):
        if field == "age":
            summary["age"] = case.age_on(timezone.localdate())
        else:
            summary[field] = getattr(case, field)
    return summary


def contact_of(user: Any) -> dict:
    """Return how the partner reaches the coordinator who acts."""
    return {
        "name": user.get_full_name() or user.username,
        "organisation": str(user.organisation) if user.organisation else "",
        "phone": user.phone,
        "email": user.email,
    }


def outbox_write(*, request: MutualAidRequest, type_: str, data: dict) -> OutboxMessage:
    """Queue a message to the request's partner, in the caller's transaction."""
    now = timezone.now()
    MutualAidRequest.objects.filter(pk=request.pk).update(seq_out=F("seq_out") + 1)
    request.refresh_from_db(fields=["seq_out"])
    msg_id = uuid.uuid4()
    origin_code = request.case.organisation.code if request.case_id and request.case else ""
    body = {
        "id": str(msg_id),
        "type": type_,
        "request_id": str(request.uid),
        "sequence": request.seq_out,
        "sent_at": now.isoformat(),
        "origin": origin_code,
        "data": data,
    }
    message = OutboxMessage.objects.create(
        uid=msg_id,
        request=request,
        seq=request.seq_out,
        type=type_,
        body=body,
        next_attempt_at=now,
    )
    MutualAidRequest.objects.filter(pk=request.pk).update(
        last_message_at=now, last_message_type=type_
    )
    queue_on_commit(queue.DRAIN_STREAM, request.pk)
    return message


def status_set(*, request: MutualAidRequest, status: str) -> None:
    """Move the request to a status (the caller checked the transition)."""
    request.status = status
    request.status_changed_at = timezone.now()
    when = {}
    if status == AidStatus.ACKNOWLEDGED:
        when["acknowledged_at"] = request.acknowledged_at = request.status_changed_at
    elif status == AidStatus.ACCEPTED:
        when["accepted_at"] = request.accepted_at = request.status_changed_at
    MutualAidRequest.objects.filter(pk=request.pk).update(
        status=status, status_changed_at=request.status_changed_at, escalated_at=None, **when
    )


def case_event(*, request: MutualAidRequest, origin: Origin, what: str, **data: Any) -> None:
    """Record on the request's case what happened between us and the partner."""
    if request.case is not None:
        event_record(
            case=request.case,
            kind=EventKind.AID,
            origin=origin,
            data={
                "what": what,
                "request": str(request.uid),
                "partner": request.partner.organisation.code,
                **data,
            },
        )


def request_create(
    *, origin: Origin, case: Case, partner: Partner, reason: str, contact: dict
) -> MutualAidRequest:
    """Write an outbound request and its first message; the caller holds the transaction."""
    reason = required_text(reason, "reason", _("Say why you ask for help."))
    if not partner.is_active:
        raise ValidationError({"partner": _("This partner is not active.")}, code="inactive")
    if not partner.signing_secret or not partner.outbound_api_key:
        raise ValidationError(
            {"partner": _("This partner has no key or signing secret set; see the admin.")},
            code="no_credentials",
        )
    case = Case.objects.select_for_update().select_related("organisation").get(pk=case.pk)
    if not case.is_open:
        raise ValidationError(_("The case is not open."), code="state")
    if case.aid_requests.open().filter(partner=partner, direction=AidDirection.OUTBOUND).exists():
        raise ValidationError(
            {"partner": _("An open request to this partner exists already.")}, code="duplicate"
        )
    area = area_for_partner(case=case, partner=partner)
    if area is None:
        # A coordinator may still ask (a sighting over the line, a lead): send the partner's
        # ground within reach of the last-seen point rather than nothing.
        area = partner.region
    request = MutualAidRequest.objects.create(
        direction=AidDirection.OUTBOUND,
        partner=partner,
        case=case,
        status=AidStatus.SENT,
        reason=reason,
        summary=case_summary(case=case, partner=partner),
        area=area,
        contact=contact,
        requested_by=origin.actor,
        status_changed_at=timezone.now(),
    )
    outbox_write(
        request=request,
        type_=AidMessageType.REQUEST,
        data={
            "reason": reason,
            "summary": request.summary,
            "area": geojson(area),
            "contact": request.contact,
        },
    )
    case_event(request=request, origin=origin, what="requested", reason=reason)
    return request


def _asked_partner_ids(case: Case, *, cancelled_too: bool = False) -> Any:
    asked = case.aid_requests.filter(direction=AidDirection.OUTBOUND)
    if not cancelled_too:
        asked = asked.exclude(status=AidStatus.CANCELLED)
    return asked.values("partner_id")


def aid_propose(*, case: Case) -> list[Partner]:
    """Tell the coordinator which partners the search reaches; send at once where allowed."""
    reached = list(
        Partner.objects.filter(
            is_active=True, pk__in=case.sectors.filter(in_current_area=True).values("partner_id")
        )
        # A request a coordinator cancelled stays cancelled: the area growing is no news.
        .exclude(pk__in=_asked_partner_ids(case, cancelled_too=True))
        .select_related("organisation")
    )
    for partner in reached:
        if partner.auto_send and partner.signing_secret and partner.outbound_api_key:
            # The partner agreed in advance to be asked without a coordinator in the loop;
            # the desk of the case's organisation is who they call back.
            request_create(
                origin=Origin.system(),
                case=case,
                partner=partner,
                reason=_("The search area reaches %(partner)s.") % {"partner": partner},
                contact={"name": str(case.organisation), "organisation": str(case.organisation)},
            )
        else:
            alert_raise(
                case=case,
                kind=AlertKind.AID_PROPOSED,
                message=f"The search area reaches {partner} [{partner.organisation.code}]: "
                "ask for mutual aid from the case page.",
                once_with=f"[{partner.organisation.code}]",
            )
    return reached


# --- Hooks from the rest of the search ------------------------------------------------------------


def case_lock(case_id: int | None) -> None:
    """Lock the case row before any of its requests: the order closing a case, a partner's
    message and a field report take them in, so that no two of them deadlock."""
    if case_id is not None:
        list(Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True))


def _requests(case_id: int, *, direction: str, statuses: tuple[str, ...]) -> list[MutualAidRequest]:
    case_lock(case_id)
    return list(
        MutualAidRequest.objects.select_for_update(of=("self",))
        .filter(case_id=case_id, direction=direction, status__in=list(statuses))
        .select_related("partner__organisation", "case__organisation")
    )


def assisting_case_activated(*, case_id: int) -> None:
    """Our units have the partner's sectors: tell the partner the search is under way."""
    for request in _requests(
        case_id, direction=AidDirection.INBOUND, statuses=AID_WORKING_STATUSES
    ):
        if request.status == AidStatus.ACCEPTED:
            status_set(request=request, status=AidStatus.ACTIVE)
            outbox_write(request=request, type_=AidMessageType.ACTIVE, data={})


def assisting_forward(*, case_id: int, type_: str, data: dict) -> int:
    """Pass what our units report on an assisting case back to the city that asked."""
    requests_ = _requests(case_id, direction=AidDirection.INBOUND, statuses=AID_WORKING_STATUSES)
    for request in requests_:
        outbox_write(request=request, type_=type_, data=data)
    return len(requests_)


def sighting_shared(*, case: Case, point: Point, data: dict) -> int:
    """Share a sighting both ways: with the city we help, or with the partners helping us.

    A sighting inside a partner's region that is not yet helping is proposed to the coordinator.
    """
    sent = assisting_forward(case_id=case.pk, type_=AidMessageType.SIGHTING, data=data)
    helpers = _requests(case.pk, direction=AidDirection.OUTBOUND, statuses=AID_WORKING_STATUSES)
    for request in helpers:
        outbox_write(request=request, type_=AidMessageType.SIGHTING, data=data)
    if not sent:
        for partner in Partner.objects.filter(is_active=True, region__contains=point).exclude(
            pk__in=_asked_partner_ids(case)
        ):
            alert_raise(
                case=case,
                kind=AlertKind.AID_PROPOSED,
                message=f"A sighting lies in {partner}'s region [{partner.organisation.code}]: "
                "ask for mutual aid from the case page.",
            )
    return sent + len(helpers)


def case_ended(*, origin: Origin, case: Case, outcome: str, note: str = "") -> None:
    """Tell every partner that our case ended.

    The partners we asked: helpers complete, the rest stop. The city we help: our side of its
    search closed and our units stopped; only the asking city ends a request, so ours stays open
    (and still takes their sightings and their closure) while they decide whether to ask someone
    else, and the note raises an alert there.
    """
    for request in _requests(case.pk, direction=AidDirection.OUTBOUND, statuses=AID_OPEN_STATUSES):
        if request.status in AID_WORKING_STATUSES:
            status_set(request=request, status=AidStatus.COMPLETED)
            outbox_write(
                request=request,
                type_=AidMessageType.CLOSED,
                data={"outcome": outcome, "note": note},
            )
        else:
            status_set(request=request, status=AidStatus.CANCELLED)
            outbox_write(
                request=request,
                type_=AidMessageType.CANCELLED,
                data={"reason": f"Case closed: {outcome}"},
            )
    for request in _requests(
        case.pk, direction=AidDirection.INBOUND, statuses=AID_WORKING_STATUSES
    ):
        text = (
            f"{case.organisation.code} closed its assisting case {case.reference} ({outcome}); "
            f"its units have stopped searching. {note}"
        ).strip()
        outbox_write(request=request, type_=AidMessageType.NOTE, data={"text": text[:2000]})
        case_event(request=request, origin=origin, what="note_sent", text=text)
