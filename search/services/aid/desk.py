"""What coordinators do with mutual aid: ask a partner, accept or decline its request, cancel
ours, send a note. Each step checks the lifecycle and writes what the partner must hear."""

from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from accounts.models import Organisation, Partner
from accounts.selectors import organisation_tree_ids
from search import permissions
from search.choices import AID_TRANSITIONS, AidDirection, AidMessageType, AidStatus, LocationSource
from search.federation.messages import parse_data
from search.models import APPEARANCE_FIELDS, CARE_FIELDS, Case, MutualAidRequest
from search.services import lifecycle
from search.services.aid import outbound
from search.services.aid.outbound import required_text
from search.services.timeline import Origin


def _require_coordinator(origin: Origin) -> None:
    if not permissions.can_close_case(origin.actor):
        raise PermissionDenied(_("Only coordinators may deal with partner cities."))


def _lock(request: MutualAidRequest) -> MutualAidRequest:
    outbound.case_lock(request.case_id)
    return (
        MutualAidRequest.objects.select_for_update(of=("self",))
        .select_related("partner__organisation", "case__organisation")
        .get(pk=request.pk)
    )


@transaction.atomic
def aid_request_send(
    *, origin: Origin, case: Case, partner: Partner, reason: str
) -> MutualAidRequest:
    """Ask a partner city for help with the part of the search area inside its region."""
    _require_coordinator(origin)
    return outbound.request_create(
        origin=origin,
        case=case,
        partner=partner,
        reason=reason,
        contact=outbound.contact_of(origin.actor),
    )


def _helping_organisation(area: GEOSGeometry, *, actor: Any) -> Organisation:
    """Return the organisation in the actor's tree holding most of the area asked for.

    The case must land where the accepting desk can see and steer it; the city's top desk may
    take a request whose area touches none of our ground.
    """
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


def _refuse_unless(
    request: MutualAidRequest, message_type: str, *, not_inbound: str, wrong_state: str
) -> None:
    if request.direction != AidDirection.INBOUND:
        raise ValidationError(not_inbound)
    if request.status not in AID_TRANSITIONS[message_type]:
        raise ValidationError(wrong_state % {"status": request.get_status_display()}, code="state")


@transaction.atomic
def aid_accept(*, origin: Origin, request: MutualAidRequest, note: str = "") -> MutualAidRequest:
    """Take on a partner's request: open an assisting case and offer our ground to our units."""
    _require_coordinator(origin)
    request = _lock(request)
    _refuse_unless(
        request,
        AidMessageType.ACCEPTED,
        not_inbound=_("Only a request from a partner can be accepted."),
        wrong_state=_("A request that is %(status)s cannot be accepted."),
    )
    if request.area is None:  # the inbox refuses a request without one
        raise ValidationError(_("No organisation of ours can take this request."))
    summary = parse_data(
        AidMessageType.REQUEST,
        {
            "reason": request.reason,
            "summary": request.summary,
            "area": outbound.geojson(request.area),
            "contact": request.contact or {"name": "?"},
        },
    )["summary"]
    organisation = _helping_organisation(request.area, actor=origin.actor)
    values = {
        key: summary[key]
        for key in ("sex", *APPEARANCE_FIELDS, *CARE_FIELDS, "last_seen_place", "terrain")
        if summary.get(key) not in (None, "")
    }
    priority = summary.get("priority", 2)
    case = lifecycle.case_create(
        origin=origin,
        organisation=organisation,
        values={
            **values,
            "subject_name": summary.get("subject_name")
            or _("Person sought by %(partner)s") % {"partner": request.partner},
            "estimated_age": summary.get("age"),
            "category": summary["category"],
            "last_seen_at": summary["last_seen_at"],
            "last_seen_point": summary["last_seen_point"],
            "location_source": LocationSource.PARTNER,
            "priority": priority,
            "computed_priority": priority,
            "priority_reasons": [
                {"code": "mutual_aid", "value": f"{request.partner} ({summary['reference']})"}
            ],
            "circumstances": request.reason,
        },
        event_data={
            "assisting": summary["reference"],
            "partner": request.partner.organisation.code,
        },
        not_checked=("sex",),
    )
    request.case = case
    MutualAidRequest.objects.filter(pk=request.pk).update(case=case)
    outbound.status_set(request=request, status=AidStatus.ACCEPTED)
    outbound.outbox_write(
        request=request,
        type_=AidMessageType.ACCEPTED,
        data={"note": note.strip(), "contact": outbound.contact_of(origin.actor)},
    )
    outbound.case_event(request=request, origin=origin, what="accepted", note=note.strip())
    return request


@transaction.atomic
def aid_decline(*, origin: Origin, request: MutualAidRequest, reason: str) -> MutualAidRequest:
    """Say no to a partner's request, with the reason they need to look elsewhere."""
    _require_coordinator(origin)
    reason = required_text(reason, "reason", _("Say why you decline."))
    request = _lock(request)
    _refuse_unless(
        request,
        AidMessageType.DECLINED,
        not_inbound=_("Only a request from a partner can be declined."),
        wrong_state=_("A request that is %(status)s cannot be declined."),
    )
    request.decline_reason = reason
    MutualAidRequest.objects.filter(pk=request.pk).update(decline_reason=reason)
    outbound.status_set(request=request, status=AidStatus.DECLINED)
    outbound.outbox_write(request=request, type_=AidMessageType.DECLINED, data={"reason": reason})
    return request


@transaction.atomic
def aid_cancel(*, origin: Origin, request: MutualAidRequest, reason: str) -> MutualAidRequest:
    """Withdraw our request: the partner stops and cancels its tasks."""
    _require_coordinator(origin)
    reason = required_text(reason, "reason", _("Say why you cancel."))
    request = _lock(request)
    if request.direction != AidDirection.OUTBOUND:
        raise ValidationError(_("Only the city that asked can cancel a request."))
    if not request.is_open:
        raise ValidationError(_("The request has ended already."), code="state")
    outbound.status_set(request=request, status=AidStatus.CANCELLED)
    outbound.outbox_write(request=request, type_=AidMessageType.CANCELLED, data={"reason": reason})
    outbound.case_event(request=request, origin=origin, what="cancelled", reason=reason)
    return request


@transaction.atomic
def aid_note(*, origin: Origin, request: MutualAidRequest, text: str) -> MutualAidRequest:
    """Send a free-text note to the partner on an open request."""
    _require_coordinator(origin)
    text = required_text(text, "text", _("Write the note."))
    request = _lock(request)
    if not request.is_open:
        raise ValidationError(_("The request has ended already."), code="state")
    outbound.outbox_write(request=request, type_=AidMessageType.NOTE, data={"text": text})
    outbound.case_event(request=request, origin=origin, what="note_sent", text=text)
    return request
