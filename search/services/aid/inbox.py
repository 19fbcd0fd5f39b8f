"""Messages from partners: applied once per id, in sequence order per request.

Answers are domain outcomes (created, applied, waiting) or a refusal with a code; the API maps
them to HTTP. Each message is kept with its outcome, so a replay of its id gets the first answer.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Partner
from search.choices import (
    AID_TRANSITIONS,
    AID_TYPES_FROM_HELPER,
    AID_TYPES_FROM_ORIGIN,
    AID_WORKING_STATUSES,
    AidDirection,
    AidMessageType,
    AidStatus,
    AlertKind,
    Outcome,
    SectorStatus,
)
from search.federation.messages import ContactSerializer, SummarySerializer, parse_data
from search.models import InboxMessage, MutualAidRequest, Sector
from search.services import field, lifecycle
from search.services.aid import outbound
from search.services.alerts import alert_raise
from search.services.timeline import Origin

# A partner may send a message before an earlier one arrives (it waits), but not park messages
# far ahead or without limit: each waiting one is a row kept until the gap is filled.
MAX_SEQUENCE_AHEAD = 1000
MAX_WAITING_PER_REQUEST = 200

# Outcomes of a message, as stored and as the API maps them.
CREATED = "created"  # a new request, acknowledged
APPLIED = "applied"
WAITING = "waiting"  # kept until the earlier sequence arrives
REFUSED = "refused"  # a waiting message that could not be applied when its turn came


class MessageRefused(Exception):
    """An incoming message that cannot be applied: nothing of it is stored.

    `code` says why: unknown_request, duplicate_request, wrong_side, lifecycle, sequence,
    sequence_used, sequence_too_far or too_many_waiting.
    """

    def __init__(self, code: str, detail: Any):
        super().__init__(str(detail))
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Receipt:
    outcome: str
    body: dict


PARTNER = Origin.partner()


def _first_answer(partner: Partner, msg_id: str) -> Receipt | None:
    first = InboxMessage.objects.filter(partner=partner, uid=msg_id).first()
    return Receipt(first.outcome, first.response_body) if first is not None else None


@transaction.atomic
def message_receive(*, partner: Partner, envelope: dict) -> Receipt:
    """Apply a verified message from a partner once; a replay of its id gets the first answer."""
    msg_id = envelope["id"]
    first = _first_answer(partner, msg_id)
    if first is not None:
        return first
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
    outbound.case_lock(case_id)
    request = (
        MutualAidRequest.objects.select_for_update(of=("self",))
        .select_related("partner__organisation", "case__organisation")
        .filter(partner=partner, uid=envelope["request_id"])
        .first()
    )
    if request is None:
        raise MessageRefused(
            "unknown_request", {"request_id": [_("No request with this id between us.")]}
        )
    # A resend that waited for the lock while its first copy was applied gets that answer.
    first = _first_answer(partner, msg_id)
    if first is not None:
        return first
    allowed = (
        AID_TYPES_FROM_HELPER
        if request.direction == AidDirection.OUTBOUND
        else AID_TYPES_FROM_ORIGIN
    )
    if message_type not in allowed:
        raise MessageRefused(
            "wrong_side",
            {"type": [_("You cannot send '%(type)s' on this request.") % {"type": message_type}]},
        )
    seq = envelope["sequence"]
    if seq <= request.seq_in or InboxMessage.objects.filter(request=request, seq=seq).exists():
        raise MessageRefused(
            "sequence_used",
            {"sequence": [_("Sequence %(n)s was used by another message.") % {"n": seq}]},
        )
    if seq > request.seq_in + MAX_SEQUENCE_AHEAD:
        raise MessageRefused(
            "sequence_too_far",
            {
                "sequence": [
                    _("Sequence %(n)s runs too far ahead: the next one expected is %(next)s.")
                    % {"n": seq, "next": request.seq_in + 1}
                ]
            },
        )
    if seq > request.seq_in + 1:
        waiting = InboxMessage.objects.filter(request=request, applied_at__isnull=True).count()
        if waiting >= MAX_WAITING_PER_REQUEST:
            raise MessageRefused(
                "too_many_waiting",
                {
                    "sequence": [
                        _("%(n)s messages already wait for sequence %(next)s; send that first.")
                        % {"n": waiting, "next": request.seq_in + 1}
                    ]
                },
            )
        body = {
            "status": "waiting",
            "request_id": str(request.uid),
            "sequence": seq,
            "waiting_for": request.seq_in + 1,
        }
        return _inbox_keep(partner, request, envelope, Receipt(WAITING, body), applied_at=None)
    receipt = _apply(request=request, partner=partner, envelope=envelope)
    _apply_waiting(request=request, partner=partner)
    return receipt


def _inbox_keep(
    partner: Partner,
    request: MutualAidRequest,
    envelope: dict,
    receipt: Receipt,
    *,
    applied_at: Any,
) -> Receipt:
    """Store a message with the answer it got, so a replay of its id gets the same answer."""
    InboxMessage.objects.create(
        partner=partner,
        uid=envelope["id"],
        request=request,
        seq=envelope["sequence"],
        type=envelope["type"],
        body=envelope,
        applied_at=applied_at,
        outcome=receipt.outcome,
        response_body=receipt.body,
    )
    return receipt


def _receive_request(*, partner: Partner, envelope: dict) -> Receipt:
    if not partner.is_active:
        raise MessageRefused(
            "partner_retired",
            {"type": [_("We no longer take new requests from you; open ones run to their end.")]},
        )
    if envelope["sequence"] != 1:
        raise MessageRefused("sequence", {"sequence": [_("A request starts at sequence 1.")]})
    # Request ids are unique across partners (the pages and the API find a request by its id
    # alone): a partner cannot take over, or shadow, another's request by reusing its id.
    if MutualAidRequest.objects.filter(uid=envelope["request_id"]).exists():
        raise MessageRefused(
            "duplicate_request", {"request_id": [_("This request exists already.")]}
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
        acknowledged_at=now,
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
    return _inbox_keep(partner, request, envelope, Receipt(CREATED, body), applied_at=now)


def _known_keys(raw: dict, serializer: type) -> dict:
    """Return the raw (JSON) values of the fields the serializer knows, and nothing else."""
    known = serializer().fields.keys()
    return {key: value for key, value in raw.items() if key in known}


def _apply(*, request: MutualAidRequest, partner: Partner, envelope: dict) -> Receipt:
    """Apply the next message in sequence; a lifecycle violation refuses it and stores nothing."""
    message_type = envelope["type"]
    data = parse_data(message_type, envelope["data"])
    allowed_from = AID_TRANSITIONS.get(message_type)
    if allowed_from is not None and request.status not in allowed_from:
        raise MessageRefused(
            "lifecycle",
            {
                "type": [
                    _("'%(type)s' cannot follow a request that is %(status)s.")
                    % {"type": message_type, "status": request.status}
                ]
            },
        )
    if message_type in {
        AidMessageType.SIGHTING,
        AidMessageType.SECTORS_SEARCHED,
        AidMessageType.FOUND,
    } and (request.status not in AID_WORKING_STATUSES or request.case_id is None):
        raise MessageRefused(
            "lifecycle",
            {"type": [_("Reports come only on a request that was accepted and is open.")]},
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
        return Receipt(APPLIED, body)
    return _inbox_keep(partner, request, envelope, Receipt(APPLIED, body), applied_at=now)


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
                applied_at=timezone.now(), outcome=REFUSED, response_body={"detail": detail}
            )
            MutualAidRequest.objects.filter(pk=request.pk).update(seq_in=waiting.seq)
            request.seq_in = waiting.seq


def _alert(request: MutualAidRequest, text: str) -> None:
    if request.case is not None:
        alert_raise(
            case=request.case,
            kind=AlertKind.AID_UPDATE,
            message=f"{request.partner}: {text}",
        )


Handler = Callable[[MutualAidRequest, dict, Partner], None]


def _on_accepted(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    outbound.status_set(request=request, status=AidStatus.ACCEPTED)
    if data.get("contact"):
        MutualAidRequest.objects.filter(pk=request.pk).update(
            contact={**request.contact, "partner": dict(data["contact"])}
        )
    outbound.case_event(request=request, origin=PARTNER, what="accepted", note=data.get("note", ""))
    _alert(request, _("accepted the request for aid."))


def _on_declined(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    outbound.status_set(request=request, status=AidStatus.DECLINED)
    MutualAidRequest.objects.filter(pk=request.pk).update(decline_reason=data["reason"])
    outbound.case_event(request=request, origin=PARTNER, what="declined", reason=data["reason"])
    _alert(request, _("declined: %(reason)s") % {"reason": data["reason"]})


def _on_active(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    outbound.status_set(request=request, status=AidStatus.ACTIVE)
    outbound.case_event(request=request, origin=PARTNER, what="active")


def _on_sighting(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    if request.case is None:
        return  # refused before: reports come only on an accepted request
    field.sighting_record(
        origin=PARTNER,
        case=request.case,
        kind=data["kind"],
        point=data["point"],
        # The partner's clock may run ahead of ours; its report is no less true for that.
        seen_at=min(data["seen_at"], timezone.now()),
        description=data.get("description", ""),
        source=f"{partner} [{partner.organisation.code}]"[:100],
        confidence=data["confidence"],
    )


def _on_sectors_searched(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    cells = list(dict.fromkeys(data["cells"]))
    # Only sectors on the partner's side of the line, and a report never undoes more coverage.
    updated = Sector.objects.filter(case=request.case, partner=partner, h3_index__in=cells).update(
        status=SectorStatus.SEARCHED, coverage=Greatest(F("coverage"), Value(data["coverage"]))
    )
    outbound.case_event(
        request=request,
        origin=PARTNER,
        what="sectors_searched",
        cells=len(cells),
        matched=updated,
        coverage=data["coverage"],
    )


def _on_found(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    case = request.case
    if case is not None and case.is_open:
        field.found_report(
            origin=PARTNER,
            case=case,
            point=data["point"],
            seen_at=min(data["found_at"], timezone.now()),
            condition=data["condition"],
            with_whom=data["with_whom"],
            description=f"[{partner.organisation.code}] {data.get('description', '')}".strip(),
        )
    else:
        outbound.case_event(
            request=request,
            origin=PARTNER,
            what="found_reported_late",
            **{"condition": data["condition"], "with": data["with_whom"]},
        )


def _on_note(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    outbound.case_event(request=request, origin=PARTNER, what="note", text=data["text"])
    _alert(request, data["text"][:200])


def _end_assisting_case(request: MutualAidRequest, *, outcome: str, note: str) -> None:
    if request.case is None:
        return
    lifecycle.case_end(
        origin=PARTNER,
        case=request.case,
        outcome=outcome,
        note=note,
        event_data={"outcome": outcome, "note": note, "by_partner": True},
        tasks_reason=f"{request.partner} ended the request: {note}"[:200],
    )


def _on_closed(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    outbound.status_set(request=request, status=AidStatus.COMPLETED)
    _end_assisting_case(request, outcome=data["outcome"], note=data.get("note", ""))


def _on_cancelled(request: MutualAidRequest, data: dict, partner: Partner) -> None:
    outbound.status_set(request=request, status=AidStatus.CANCELLED)
    _end_assisting_case(request, outcome=Outcome.WITHDRAWN, note=data["reason"])


HANDLERS: dict[str, Handler] = {
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
