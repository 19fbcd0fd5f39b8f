"""Mutual aid between cities: asking, answering, the messages both ways, and their delivery.

Every change that a partner must hear about writes an OutboxMessage in the same transaction;
delivery is queued on commit and the beat sweep re-sends whatever was left behind. Incoming
messages are applied once per id, in sequence order per request.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, Partner
from search import permissions
from search.choices import (
    AID_OPEN_STATUSES,
    AID_TYPES_FROM_HELPER,
    AID_TYPES_FROM_ORIGIN,
    AidDirection,
    AidMessageType,
    AidStatus,
    AlertKind,
    CaseStatus,
    EventKind,
    EventSource,
    LocationSource,
    Outcome,
    SectorStatus,
)
from search.federation import client
from search.federation.messages import ContactSerializer, SummarySerializer, parse_data
from search.geo import SRID
from search.models import (
    APPEARANCE_FIELDS,
    CARE_FIELDS,
    Case,
    InboxMessage,
    MutualAidRequest,
    OutboxMessage,
    Sector,
    Task,
)
from search.services import queue
from search.services.queue import publish, queue_on_commit
from search.services.timeline import Origin, event_record

log = logging.getLogger(__name__)

# Subject fields a partner receives unless its settings say otherwise; medical detail and
# crisis notes go only to a partner whose allowed_fields names them; reporter contact never.
DEFAULT_SHARED_FIELDS = (
    "subject_name",
    "sex",
    "age",
    *APPEARANCE_FIELDS,
)
SHAREABLE_FIELDS = (*DEFAULT_SHARED_FIELDS, *CARE_FIELDS)

# What may follow what, on both sides. The helping city moves the request to accepted,
# declined or active; the asking city ends it.
TRANSITIONS: dict[str, set[str]] = {
    AidMessageType.ACCEPTED: {AidStatus.SENT, AidStatus.ACKNOWLEDGED},
    AidMessageType.DECLINED: {AidStatus.SENT, AidStatus.ACKNOWLEDGED},
    AidMessageType.ACTIVE: {AidStatus.ACCEPTED},
    AidMessageType.CLOSED: set(AID_OPEN_STATUSES),
    AidMessageType.CANCELLED: set(AID_OPEN_STATUSES),
}
# Progress reports make sense only once the partner has taken the request on.
WORKING_STATUSES = {AidStatus.ACCEPTED, AidStatus.ACTIVE}
# A partner may send a message before an earlier one arrives (it waits), but not park messages
# far ahead or without limit: each waiting one is a row kept until the gap is filled.
MAX_SEQUENCE_AHEAD = 1000
MAX_WAITING_PER_REQUEST = 200


def conf(name: str):
    return settings.FEDERATION[name]


class MessageRefused(Exception):
    """An incoming message that cannot be applied: nothing of it is stored."""

    def __init__(self, status: int, detail: Any, code: str):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.code = code


# --- Asking a partner ---------------------------------------------------------------------------


def _require_coordinator(origin: Origin) -> None:
    if not permissions.can_close_case(origin.actor):
        raise PermissionDenied(_("Only coordinators may deal with partner cities."))


def _required_text(value: str, field: str, message: str) -> str:
    """Return the text without surrounding blanks, or refuse it as the field's error."""
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message}, code="required")
    return value


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
    from django.contrib.gis.geos import GEOSGeometry

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


def _contact(user) -> dict:
    return {
        "name": user.get_full_name() or user.username,
        "organisation": str(user.organisation) if user.organisation else "",
        "phone": user.phone,
        "email": user.email,
    }


def _outbox_write(*, request: MutualAidRequest, type_: str, data: dict) -> OutboxMessage:
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
    queue_on_commit(queue.DELIVER_MESSAGE, message.pk)
    return message


def _set_status(request: MutualAidRequest, status: str) -> None:
    request.status = status
    request.status_changed_at = timezone.now()
    MutualAidRequest.objects.filter(pk=request.pk).update(
        status=status, status_changed_at=request.status_changed_at, escalated_at=None
    )


def _case_event(request: MutualAidRequest, origin: Origin, what: str, **data) -> None:
    if request.case_id:
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


@transaction.atomic
def aid_request_send(
    *, origin: Origin, case: Case, partner: Partner, reason: str
) -> MutualAidRequest:
    """Ask a partner city for help with the part of the search area inside its region."""
    _require_coordinator(origin)
    return _request_create(
        origin=origin, case=case, partner=partner, reason=reason, contact=_contact(origin.actor)
    )


def _request_create(
    *, origin: Origin, case: Case, partner: Partner, reason: str, contact: dict
) -> MutualAidRequest:
    reason = _required_text(reason, "reason", _("Say why you ask for help."))
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
    now = timezone.now()
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
        status_changed_at=now,
    )
    _outbox_write(
        request=request,
        type_=AidMessageType.REQUEST,
        data={
            "reason": reason,
            "summary": request.summary,
            "area": _geojson(area),
            "contact": request.contact,
        },
    )
    _case_event(request, origin, "requested", reason=reason)
    return request


def _geojson(geometry) -> dict:
    import json

    return json.loads(geometry.geojson)


def aid_propose(*, case: Case) -> list[Partner]:
    """Tell the coordinator which partners the search reaches; send at once where allowed."""
    from search.services.dispatch import alert_raise

    reached = list(
        Partner.objects.filter(
            is_active=True, pk__in=case.sectors.filter(in_current_area=True).values("partner_id")
        ).select_related("organisation")
    )
    asked = set(
        case.aid_requests.filter(direction=AidDirection.OUTBOUND)
        .exclude(status=AidStatus.CANCELLED)
        .values_list("partner_id", flat=True)
    )
    proposed = []
    for partner in reached:
        if partner.pk in asked:
            continue
        if partner.auto_send and partner.signing_secret and partner.outbound_api_key:
            # The partner agreed in advance to be asked without a coordinator in the loop;
            # the desk of the case's organisation is who they call back.
            _request_create(
                origin=Origin.system(),
                case=case,
                partner=partner,
                reason=_("The search area reaches %(partner)s.") % {"partner": partner},
                contact={"name": str(case.organisation), "organisation": str(case.organisation)},
            )
        elif not case.alerts.filter(
            kind=AlertKind.AID_PROPOSED, message__contains=f"[{partner.organisation.code}]"
        ).exists():
            alert_raise(
                case=case,
                kind=AlertKind.AID_PROPOSED,
                message=f"The search area reaches {partner} [{partner.organisation.code}]: "
                "ask for mutual aid from the case page.",
            )
        proposed.append(partner)
    return proposed


# --- Answering a partner (we are the helping city) ------------------------------------------------


def _lock(request: MutualAidRequest) -> MutualAidRequest:
    return (
        MutualAidRequest.objects.select_for_update(of=("self",))
        .select_related("partner__organisation", "case__organisation")
        .get(pk=request.pk)
    )


def _helping_organisation(area, *, actor) -> Organisation:
    """Return the organisation in the actor's tree holding most of the area asked for.

    The case must land where the accepting desk can see and steer it; the city's top desk may
    take a request whose area touches none of our ground.
    """
    from accounts.selectors import organisation_tree_ids

    scope = organisation_tree_ids(actor.organisation)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT o.id FROM accounts_organisation o
            WHERE NOT EXISTS (SELECT 1 FROM accounts_partner p WHERE p.organisation_id = o.id)
              AND o.id = ANY(%s)
              AND ST_Intersects(o.jurisdiction, ST_GeomFromEWKB(%s))
            ORDER BY ST_Area(ST_Intersection(o.jurisdiction, ST_GeomFromEWKB(%s))) DESC,
                     o.parent_id NULLS FIRST
            LIMIT 1
            """,
            [list(scope), bytes(area.ewkb), bytes(area.ewkb)],
        )
        row = cursor.fetchone()
    if row:
        return Organisation.objects.get(pk=row[0])
    own = actor.organisation
    if own is None or own.parent_id is not None or hasattr(own, "partner"):
        raise ValidationError(_("No organisation of ours can take this request."))
    return own


@transaction.atomic
def aid_accept(*, origin: Origin, request: MutualAidRequest, note: str = "") -> MutualAidRequest:
    """Take on a partner's request: open an assisting case and offer our ground to our units."""
    _require_coordinator(origin)
    request = _lock(request)
    if request.direction != AidDirection.INBOUND:
        raise ValidationError(_("Only a request from a partner can be accepted."))
    if request.status not in TRANSITIONS[AidMessageType.ACCEPTED]:
        raise ValidationError(
            _("A request that is %(status)s cannot be accepted.")
            % {"status": request.get_status_display()},
            code="state",
        )
    from search.services.intake import next_reference

    summary = parse_data(
        AidMessageType.REQUEST,
        {
            "reason": request.reason,
            "summary": request.summary,
            "area": _geojson(request.area),
            "contact": request.contact or {"name": "?"},
        },
    )["summary"]
    organisation = _helping_organisation(request.area, actor=origin.actor)
    now = timezone.now()
    values = {
        key: summary[key]
        for key in ("sex", *APPEARANCE_FIELDS, *CARE_FIELDS, "last_seen_place", "terrain")
        if summary.get(key) not in (None, "")
    }
    case = Case(
        **values,
        organisation=organisation,
        reference=next_reference(organisation, now),
        subject_name=summary.get("subject_name")
        or _("Person sought by %(partner)s") % {"partner": request.partner},
        estimated_age=summary.get("age"),
        category=summary["category"],
        last_seen_at=summary["last_seen_at"],
        last_seen_point=summary["last_seen_point"],
        location_source=LocationSource.PARTNER,
        priority=summary.get("priority", 2),
        computed_priority=summary.get("priority", 2),
        priority_reasons=[
            {"code": "mutual_aid", "value": f"{request.partner} ({summary['reference']})"}
        ],
        circumstances=request.reason,
        created_by=origin.actor,
    )
    case.full_clean(exclude=["photo", "reference", "linked_cases", "sex"])
    case.save()
    event_record(
        case=case,
        kind=EventKind.CREATED,
        origin=origin,
        data={
            "reference": case.reference,
            "priority": case.priority,
            "category": case.category,
            "assisting": summary["reference"],
            "partner": request.partner.organisation.code,
        },
    )
    request.case = case
    MutualAidRequest.objects.filter(pk=request.pk).update(case=case)
    _set_status(request, AidStatus.ACCEPTED)
    _outbox_write(
        request=request,
        type_=AidMessageType.ACCEPTED,
        data={"note": note.strip(), "contact": _contact(origin.actor)},
    )
    _case_event(request, origin, "accepted", note=note.strip())
    queue_on_commit(queue.DISPATCH, case.pk)
    return request


@transaction.atomic
def aid_decline(*, origin: Origin, request: MutualAidRequest, reason: str) -> MutualAidRequest:
    """Say no to a partner's request, with the reason they need to look elsewhere."""
    _require_coordinator(origin)
    reason = _required_text(reason, "reason", _("Say why you decline."))
    request = _lock(request)
    if request.direction != AidDirection.INBOUND:
        raise ValidationError(_("Only a request from a partner can be declined."))
    if request.status not in TRANSITIONS[AidMessageType.DECLINED]:
        raise ValidationError(
            _("A request that is %(status)s cannot be declined.")
            % {"status": request.get_status_display()},
            code="state",
        )
    request.decline_reason = reason
    MutualAidRequest.objects.filter(pk=request.pk).update(decline_reason=reason)
    _set_status(request, AidStatus.DECLINED)
    _outbox_write(request=request, type_=AidMessageType.DECLINED, data={"reason": reason})
    return request


@transaction.atomic
def aid_cancel(*, origin: Origin, request: MutualAidRequest, reason: str) -> MutualAidRequest:
    """Withdraw our request: the partner stops and cancels its tasks."""
    _require_coordinator(origin)
    reason = _required_text(reason, "reason", _("Say why you cancel."))
    request = _lock(request)
    if request.direction != AidDirection.OUTBOUND:
        raise ValidationError(_("Only the city that asked can cancel a request."))
    if not request.is_open:
        raise ValidationError(_("The request has ended already."), code="state")
    _set_status(request, AidStatus.CANCELLED)
    _outbox_write(request=request, type_=AidMessageType.CANCELLED, data={"reason": reason})
    _case_event(request, origin, "cancelled", reason=reason)
    return request


@transaction.atomic
def aid_note(*, origin: Origin, request: MutualAidRequest, text: str) -> MutualAidRequest:
    """Send a free-text note to the partner on an open request."""
    _require_coordinator(origin)
    text = _required_text(text, "text", _("Write the note."))
    request = _lock(request)
    if not request.is_open:
        raise ValidationError(_("The request has ended already."), code="state")
    _outbox_write(request=request, type_=AidMessageType.NOTE, data={"text": text})
    _case_event(request, origin, "note_sent", text=text)
    return request


# --- Hooks from the rest of the search ------------------------------------------------------------


def _assisting(case_id: int) -> list[MutualAidRequest]:
    return list(
        MutualAidRequest.objects.select_for_update(of=("self",))
        .filter(case_id=case_id, direction=AidDirection.INBOUND, status__in=list(WORKING_STATUSES))
        .select_related("partner__organisation", "case__organisation")
    )


def assisting_case_activated(*, case_id: int) -> None:
    """Our units have the partner's sectors: tell the partner the search is under way."""
    for request in _assisting(case_id):
        if request.status == AidStatus.ACCEPTED:
            _set_status(request, AidStatus.ACTIVE)
            _outbox_write(request=request, type_=AidMessageType.ACTIVE, data={})


def assisting_forward(*, case_id: int, type_: str, data: dict) -> int:
    """Pass what our units report on an assisting case back to the city that asked."""
    requests_ = _assisting(case_id)
    for request in requests_:
        _outbox_write(request=request, type_=type_, data=data)
    return len(requests_)


def sighting_shared(*, case: Case, point, data: dict) -> int:
    """Share a sighting both ways: with the city we help, or with the partners helping us.

    A sighting inside a partner's region that is not yet helping is proposed to the coordinator.
    """
    sent = assisting_forward(case_id=case.pk, type_=AidMessageType.SIGHTING, data=data)
    helpers = list(
        MutualAidRequest.objects.select_for_update(of=("self",))
        .filter(case=case, direction=AidDirection.OUTBOUND, status__in=list(WORKING_STATUSES))
        .select_related("partner__organisation", "case__organisation")
    )
    for request in helpers:
        _outbox_write(request=request, type_=AidMessageType.SIGHTING, data=data)
    if not sent:
        _propose_for_point(case=case, point=point)
    return sent + len(helpers)


def _propose_for_point(*, case: Case, point) -> None:
    from search.services.dispatch import alert_raise

    asked = case.aid_requests.filter(direction=AidDirection.OUTBOUND).exclude(
        status=AidStatus.CANCELLED
    )
    for partner in Partner.objects.filter(is_active=True, region__contains=point).exclude(
        pk__in=asked.values("partner_id")
    ):
        alert_raise(
            case=case,
            kind=AlertKind.AID_PROPOSED,
            message=f"A sighting lies in {partner}'s region [{partner.organisation.code}]: "
            "ask for mutual aid from the case page.",
        )


def origin_case_ended(*, case: Case, outcome: str, note: str = "") -> None:
    """Tell every partner we asked that our case closed: helpers complete, the rest stop."""
    for request in (
        MutualAidRequest.objects.select_for_update(of=("self",))
        .filter(case=case, direction=AidDirection.OUTBOUND, status__in=list(AID_OPEN_STATUSES))
        .select_related("partner__organisation", "case__organisation")
    ):
        if request.status in WORKING_STATUSES:
            _set_status(request, AidStatus.COMPLETED)
            _outbox_write(
                request=request,
                type_=AidMessageType.CLOSED,
                data={"outcome": outcome, "note": note},
            )
        else:
            _set_status(request, AidStatus.CANCELLED)
            _outbox_write(
                request=request,
                type_=AidMessageType.CANCELLED,
                data={"reason": f"Case closed: {outcome}"},
            )


def assisting_case_ended(*, origin: Origin, case: Case, outcome: str, note: str = "") -> None:
    """Tell the city we help that we closed our side of its search and our units stopped.

    Only the asking city ends a request, so ours stays open (and still takes their sightings and
    their closure) while they decide whether to ask someone else; the note raises an alert there.
    """
    for request in (
        MutualAidRequest.objects.select_for_update(of=("self",))
        .filter(case=case, direction=AidDirection.INBOUND, status__in=list(WORKING_STATUSES))
        .select_related("partner__organisation", "case")
    ):
        text = (
            f"{case.organisation.code} closed its assisting case {case.reference} ({outcome}); "
            f"its units have stopped searching. {note}"
        ).strip()
        _outbox_write(request=request, type_=AidMessageType.NOTE, data={"text": text[:2000]})
        _case_event(request, origin, "note_sent", text=text)


# --- Receiving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    status: int
    body: dict


def _partner_origin(partner: Partner) -> Origin:
    return Origin(actor=None, source=EventSource.PARTNER)


@transaction.atomic
def message_receive(*, partner: Partner, envelope: dict) -> Receipt:
    """Apply a verified message from a partner once; a replay of its id gets the first answer."""
    msg_id = envelope["id"]
    first = InboxMessage.objects.filter(partner=partner, uid=msg_id).first()
    if first is not None:
        return Receipt(first.response_status, first.response_body)
    message_type = envelope["type"]
    if message_type == AidMessageType.REQUEST:
        return _receive_request(partner=partner, envelope=envelope)
    # Lock the case before the request, the order closing a case takes them in, so that a
    # closure and a partner's message on the same case cannot deadlock.
    case_id = (
        MutualAidRequest.objects.filter(partner=partner, uid=envelope["request_id"])
        .values_list("case_id", flat=True)
        .first()
    )
    if case_id is not None:
        list(Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True))
    request = (
        MutualAidRequest.objects.select_for_update(of=("self",))
        .select_related("partner__organisation", "case__organisation")
        .filter(partner=partner, uid=envelope["request_id"])
        .first()
    )
    if request is None:
        raise MessageRefused(
            404, {"request_id": [_("No request with this id between us.")]}, "unknown_request"
        )
    # A resend that waited for the lock while its first copy was applied gets that answer.
    first = InboxMessage.objects.filter(partner=partner, uid=msg_id).first()
    if first is not None:
        return Receipt(first.response_status, first.response_body)
    allowed = (
        AID_TYPES_FROM_HELPER
        if request.direction == AidDirection.OUTBOUND
        else (AID_TYPES_FROM_ORIGIN)
    )
    if message_type not in allowed:
        raise MessageRefused(
            409,
            {"type": [_("You cannot send '%(type)s' on this request.") % {"type": message_type}]},
            "wrong_side",
        )
    seq = envelope["sequence"]
    if seq <= request.seq_in or InboxMessage.objects.filter(request=request, seq=seq).exists():
        raise MessageRefused(
            409,
            {"sequence": [_("Sequence %(n)s was used by another message.") % {"n": seq}]},
            "sequence_used",
        )
    if seq > request.seq_in + MAX_SEQUENCE_AHEAD:
        raise MessageRefused(
            409,
            {
                "sequence": [
                    _("Sequence %(n)s runs too far ahead: the next one expected is %(next)s.")
                    % {"n": seq, "next": request.seq_in + 1}
                ]
            },
            "sequence_too_far",
        )
    if seq > request.seq_in + 1:
        waiting = InboxMessage.objects.filter(request=request, applied_at__isnull=True).count()
        if waiting >= MAX_WAITING_PER_REQUEST:
            raise MessageRefused(
                409,
                {
                    "sequence": [
                        _("%(n)s messages already wait for sequence %(next)s; send that first.")
                        % {"n": waiting, "next": request.seq_in + 1}
                    ]
                },
                "too_many_waiting",
            )
        body = {
            "status": "waiting",
            "request_id": str(request.uid),
            "sequence": seq,
            "waiting_for": request.seq_in + 1,
        }
        return _inbox_keep(partner, request, envelope, Receipt(202, body), applied_at=None)
    receipt = _apply(request=request, partner=partner, envelope=envelope)
    _apply_waiting(request=request, partner=partner)
    return receipt


def _inbox_keep(partner, request, envelope: dict, receipt: Receipt, *, applied_at) -> Receipt:
    """Store a message with the answer it got, so a replay of its id gets the same answer."""
    InboxMessage.objects.create(
        partner=partner,
        uid=envelope["id"],
        request=request,
        seq=envelope["sequence"],
        type=envelope["type"],
        body=envelope,
        applied_at=applied_at,
        response_status=receipt.status,
        response_body=receipt.body,
    )
    return receipt


def _receive_request(*, partner: Partner, envelope: dict) -> Receipt:
    if envelope["sequence"] != 1:
        raise MessageRefused(409, {"sequence": [_("A request starts at sequence 1.")]}, "sequence")
    # Request ids are unique across partners (the pages and the API find a request by its id
    # alone): a partner cannot take over, or shadow, another's request by reusing its id.
    if MutualAidRequest.objects.filter(uid=envelope["request_id"]).exists():
        raise MessageRefused(
            409, {"request_id": [_("This request exists already.")]}, "duplicate_request"
        )
    data = parse_data(AidMessageType.REQUEST, envelope["data"])
    now = timezone.now()
    # Only what the format names is kept: anything else a partner adds (a reporter's phone,
    # say) is dropped, never stored nor shown.
    summary = _known_keys(envelope["data"]["summary"], SummarySerializer)
    contact = _known_keys(envelope["data"]["contact"], ContactSerializer)
    request = MutualAidRequest.objects.create(
        uid=envelope["request_id"],
        direction=AidDirection.INBOUND,
        partner=partner,
        # Receipt is the acknowledgement: the asking city learns it from our answer.
        status=AidStatus.ACKNOWLEDGED,
        reason=data["reason"],
        summary=summary,
        area=data["area"],
        contact=contact,
        status_changed_at=now,
        seq_in=1,
        last_message_at=now,
        last_message_type=AidMessageType.REQUEST,
    )
    body = {
        "status": "applied",
        "request_id": str(request.uid),
        "sequence": 1,
        "request_status": request.status,
    }
    return _inbox_keep(partner, request, envelope, Receipt(201, body), applied_at=now)


def _known_keys(raw: dict, serializer: type) -> dict:
    """Return the raw (JSON) values of the fields the serializer knows, and nothing else."""
    known = serializer().fields.keys()
    return {key: value for key, value in raw.items() if key in known}


def _apply(*, request: MutualAidRequest, partner: Partner, envelope: dict) -> Receipt:
    """Apply the next message in sequence; a lifecycle violation refuses it and stores nothing."""
    message_type = envelope["type"]
    data = parse_data(message_type, envelope["data"])
    allowed_from = TRANSITIONS.get(message_type)
    if allowed_from is not None and request.status not in allowed_from:
        raise MessageRefused(
            409,
            {
                "type": [
                    _("'%(type)s' cannot follow a request that is %(status)s.")
                    % {"type": message_type, "status": request.status}
                ]
            },
            "lifecycle",
        )
    if message_type in {
        AidMessageType.SIGHTING,
        AidMessageType.SECTORS_SEARCHED,
        AidMessageType.FOUND,
    } and (request.status not in WORKING_STATUSES or request.case_id is None):
        raise MessageRefused(
            409,
            {"type": [_("Reports come only on a request that was accepted and is open.")]},
            "lifecycle",
        )
    HANDLERS[message_type](request, data, partner)
    now = timezone.now()
    MutualAidRequest.objects.filter(pk=request.pk).update(
        seq_in=envelope["sequence"], last_message_at=now, last_message_type=message_type
    )
    request.seq_in = envelope["sequence"]
    body = {
        "status": "applied",
        "request_id": str(request.uid),
        "sequence": envelope["sequence"],
        "request_status": request.status,
    }
    waited = InboxMessage.objects.filter(partner=partner, uid=envelope["id"])
    if waited.exists():
        # It waited for an earlier message: applied now, but a replay still gets its first
        # answer ("waiting"), as the sender was told.
        waited.update(applied_at=now)
    else:
        return _inbox_keep(partner, request, envelope, Receipt(200, body), applied_at=now)
    return Receipt(200, body)


def _apply_waiting(*, request: MutualAidRequest, partner: Partner) -> None:
    """Apply messages that arrived early, now that the one before them is here."""
    while True:
        waiting = InboxMessage.objects.filter(
            request=request, seq=request.seq_in + 1, applied_at__isnull=True
        ).first()
        if waiting is None:
            return
        try:
            with transaction.atomic():
                _apply(request=request, partner=partner, envelope=waiting.body)
        except (MessageRefused, ValidationError) as exc:
            # Its place in the sequence is used up; the refusal is kept for the board.
            detail = exc.detail if isinstance(exc, MessageRefused) else exc.messages
            InboxMessage.objects.filter(pk=waiting.pk).update(
                applied_at=timezone.now(), response_status=409, response_body={"detail": detail}
            )
            MutualAidRequest.objects.filter(pk=request.pk).update(seq_in=waiting.seq)
            request.seq_in = waiting.seq


def _alert(request: MutualAidRequest, text: str) -> None:
    from search.services.dispatch import alert_raise

    if request.case_id:
        alert_raise(
            case=request.case,
            kind=AlertKind.AID_UPDATE,
            message=f"{request.partner}: {text}",
        )


def _on_accepted(request, data, partner):
    _set_status(request, AidStatus.ACCEPTED)
    if data.get("contact"):
        MutualAidRequest.objects.filter(pk=request.pk).update(
            contact={**request.contact, "partner": dict(data["contact"])}
        )
    _case_event(request, _partner_origin(partner), "accepted", note=data.get("note", ""))
    _alert(request, _("accepted the request for aid."))


def _on_declined(request, data, partner):
    _set_status(request, AidStatus.DECLINED)
    MutualAidRequest.objects.filter(pk=request.pk).update(decline_reason=data["reason"])
    _case_event(request, _partner_origin(partner), "declined", reason=data["reason"])
    _alert(request, _("declined: %(reason)s") % {"reason": data["reason"]})


def _on_active(request, data, partner):
    _set_status(request, AidStatus.ACTIVE)
    _case_event(request, _partner_origin(partner), "active")


def _on_sighting(request, data, partner):
    from search.services.field import sighting_record

    sighting_record(
        origin=_partner_origin(partner),
        case=request.case,
        kind=data["kind"],
        point=data["point"],
        # The partner's clock may run ahead of ours; its report is no less true for that.
        seen_at=min(data["seen_at"], timezone.now()),
        description=data.get("description", ""),
        source=f"{partner} [{partner.organisation.code}]"[:100],
        confidence=data["confidence"],
    )


def _on_sectors_searched(request, data, partner):
    cells = list(dict.fromkeys(data["cells"]))
    # Only sectors on the partner's side of the line, and a report never undoes more coverage.
    updated = Sector.objects.filter(case=request.case, partner=partner, h3_index__in=cells).update(
        status=SectorStatus.SEARCHED, coverage=Greatest(F("coverage"), Value(data["coverage"]))
    )
    _case_event(
        request,
        _partner_origin(partner),
        "sectors_searched",
        cells=len(cells),
        matched=updated,
        coverage=data["coverage"],
    )


def _on_found(request, data, partner):
    from search.services.field import found_report

    case = request.case
    if case.is_open:
        found_report(
            origin=_partner_origin(partner),
            case=case,
            point=data["point"],
            seen_at=min(data["found_at"], timezone.now()),
            condition=data["condition"],
            with_whom=data["with_whom"],
            description=f"[{partner.organisation.code}] {data.get('description', '')}".strip(),
        )
    else:
        _case_event(
            request,
            _partner_origin(partner),
            "found_reported_late",
            **{"condition": data["condition"], "with": data["with_whom"]},
        )


def _on_note(request, data, partner):
    _case_event(request, _partner_origin(partner), "note", text=data["text"])
    _alert(request, data["text"][:200])


def _end_assisting_case(request, *, outcome: str, note: str) -> None:
    from search.services.dispatch import tasks_cancel

    case = request.case
    if case is None:
        return
    locked = Case.objects.select_for_update().get(pk=case.pk)
    tasks_cancel(
        tasks=Task.objects.open().filter(case=locked),
        reason=f"{request.partner} ended the request: {note}"[:200],
        now=timezone.now(),
    )
    if locked.status != CaseStatus.CLOSED:
        old = locked.status
        Case.objects.filter(pk=locked.pk).update(
            status=CaseStatus.CLOSED,
            outcome=outcome,
            outcome_note=note[:2000],
            closed_at=timezone.now(),
            version=F("version") + 1,
        )
        event_record(
            case=locked,
            kind=EventKind.OUTCOME_RECORDED,
            origin=_partner_origin(request.partner),
            data={"old_status": old, "outcome": outcome, "note": note, "by_partner": True},
        )


def _on_closed(request, data, partner):
    _set_status(request, AidStatus.COMPLETED)
    _end_assisting_case(request, outcome=data["outcome"], note=data.get("note", ""))


def _on_cancelled(request, data, partner):
    _set_status(request, AidStatus.CANCELLED)
    _end_assisting_case(request, outcome=Outcome.WITHDRAWN, note=data["reason"])


HANDLERS = {
    AidMessageType.ACCEPTED: _on_accepted,
    AidMessageType.DECLINED: _on_declined,
    AidMessageType.ACTIVE: _on_active,
    AidMessageType.SIGHTING: _on_sighting,
    AidMessageType.SECTORS_SEARCHED: _on_sectors_searched,
    AidMessageType.FOUND: _on_found,
    AidMessageType.NOTE: _on_note,
    AidMessageType.CLOSED: _on_closed,
    AidMessageType.CANCELLED: _on_cancelled,
}


# --- Delivery -------------------------------------------------------------------------------------

# Answers that will not change by trying again: the partner refused the message itself.
PERMANENT_REFUSALS = {400, 404, 409, 413, 422}
# A key or secret out of step (a rotation half done) is mended by people, not by the message:
# keep retrying with backoff, and tell the coordinator at the first refusal.
CREDENTIAL_REFUSALS = {401, 403}


def retry_delay(attempts: int) -> float:
    """Return seconds before the next try: exponential, capped, with full jitter."""
    ceiling = min(conf("RETRY_CAP_SECONDS"), conf("RETRY_BASE_SECONDS") * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading load, not secrecy


def outbox_deliver(*, message_id: int, now: datetime | None = None) -> str:
    """Send one outgoing message if it is due; return what happened.

    The row lock (skip locked) keeps two workers from sending the same message at once; a
    message sent twice anyway (a crash after the send) is applied once by the receiver.
    """
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("request__partner__organisation")
            .filter(pk=message_id, delivered_at__isnull=True, failed_at__isnull=True)
            .first()
        )
        if message is None:
            return "done-or-busy"
        now = now or timezone.now()
        if message.next_attempt_at > now + timedelta(seconds=1):
            return "not-due"
        request = message.request
        result = client.post_message(
            partner=request.partner, msg_id=str(message.uid), body=message.body
        )
        message.attempts += 1
        message.response_status = result.status
        if result.status is not None and 200 <= result.status < 300:
            message.delivered_at = timezone.now()
            message.last_error = ""
            message.save()
            if message.type == AidMessageType.REQUEST:
                MutualAidRequest.objects.filter(pk=request.pk, status=AidStatus.SENT).update(
                    status=AidStatus.ACKNOWLEDGED, status_changed_at=timezone.now()
                )
            return "delivered"
        message.last_error = result.error[:2000]
        if result.status in PERMANENT_REFUSALS:
            message.failed_at = timezone.now()
            message.save()
            from search.services.dispatch import alert_raise

            if request.case_id:
                alert_raise(
                    case=request.case,
                    kind=AlertKind.AID_UNDELIVERED,
                    message=f"{request.partner} refused '{message.type}': {result.error[:300]}",
                )
            return "refused"
        if result.status in CREDENTIAL_REFUSALS and message.attempts == 1 and request.case_id:
            from search.services.dispatch import alert_raise

            alert_raise(
                case=request.case,
                kind=AlertKind.AID_UNDELIVERED,
                message=f"{request.partner} does not accept our key or signature "
                f"({result.status}); still retrying: {result.error[:300]}",
            )
        delay = retry_delay(message.attempts)
        message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        message.save()
    # Sent at once, not on commit: the attempt is recorded already (a failed publish is
    # picked up by the sweep at next_attempt_at).
    publish(queue.DELIVER_MESSAGE, message.pk, countdown=delay)
    return "retry"


def outbox_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Return ids of messages that should have gone out by now."""
    now = now or timezone.now()
    return list(
        OutboxMessage.objects.filter(
            delivered_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=now
        )
        .order_by("request_id", "seq")
        .values_list("pk", flat=True)[:limit]
    )


def aid_escalate(*, now: datetime | None = None) -> int:
    """Flag requests the partner has left unanswered too long (once per wait)."""
    from search.services.dispatch import alert_raise

    now = now or timezone.now()
    cutoff = now - timedelta(minutes=conf("ESCALATE_AFTER_MINUTES"))
    flagged = 0
    for request in MutualAidRequest.objects.filter(
        status__in=[AidStatus.SENT, AidStatus.ACKNOWLEDGED],
        status_changed_at__lt=cutoff,
        escalated_at__isnull=True,
    ).select_related("partner__organisation", "case"):
        with transaction.atomic():
            # Another beat run may have flagged it in the meantime: count only what we flag.
            if not MutualAidRequest.objects.filter(pk=request.pk, escalated_at__isnull=True).update(
                escalated_at=now
            ):
                continue
            flagged += 1
            if request.case_id:
                alert_raise(
                    case=request.case,
                    kind=AlertKind.AID_OVERDUE,
                    message=f"{request.partner} has not answered the request for aid sent "
                    f"{timezone.localtime(request.created_at):%H:%M}.",
                )
    return flagged


def requests_visible_to_partner(partner: Partner):
    """Return the requests between this partner and us, and nothing else."""
    return MutualAidRequest.objects.filter(partner=partner)
