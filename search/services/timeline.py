"""Appending to a case's timeline, and checking that nobody rewrote it."""

from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from search.choices import EventKind, EventSource
from search.models import Case, CaseEvent
from search.models.timeline import GENESIS_HASH


@dataclass(frozen=True)
class Origin:
    """Who acts and from where: carried from the request (or the system) into every event."""

    actor: Any  # a User, or None for the system
    source: str = EventSource.WEB
    ip: str | None = None

    @classmethod
    def system(cls) -> "Origin":
        return cls(actor=None, source=EventSource.SYSTEM)

    @classmethod
    def partner(cls) -> "Origin":
        return cls(actor=None, source=EventSource.PARTNER)

    @classmethod
    def from_request(cls, request: Any, *, source: str = EventSource.WEB) -> "Origin":
        """Return the origin of a signed-in person's request: who, through what, from where."""
        from config.client_ip import client_ip

        return cls(actor=request.user, source=source, ip=client_ip(request))


def _plain(data: dict) -> dict:
    """Return data as plain JSON types, exactly as it will read back from the database."""
    import json

    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


@transaction.atomic
def event_record(
    *, case: Case, kind: EventKind, origin: Origin, data: dict | None = None
) -> CaseEvent:
    """Append an event to the case's timeline, chained to the one before it."""
    # The case row lock serialises appends, so two events never claim the same place.
    Case.objects.select_for_update().filter(pk=case.pk).values_list("pk").get()
    last = case.events.order_by("-seq").values("seq", "hash").first()
    event = CaseEvent(
        case=case,
        seq=(last["seq"] + 1) if last else 1,
        kind=kind,
        actor=origin.actor,
        source=origin.source,
        ip=origin.ip,
        data=_plain(data or {}),
        created_at=timezone.now(),
        prev_hash=last["hash"] if last else GENESIS_HASH,
    )
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    return event


def event_first(
    *, case: Case, kind: EventKind, origin: Origin, data: dict | None = None
) -> CaseEvent:
    """Record the first event of a case created in this same transaction.

    Nobody else can see the case before the transaction commits, so nobody else can append to
    its timeline: there is no row to lock and no earlier event to chain to. The unique
    (case, seq) still refuses a second first event.
    """
    event = CaseEvent(
        case=case,
        seq=1,
        kind=kind,
        actor=origin.actor,
        source=origin.source,
        ip=origin.ip,
        data=_plain(data or {}),
        created_at=timezone.now(),
        prev_hash=GENESIS_HASH,
    )
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class EventDraft:
    """One event to append in bulk: the case, what happened and its data."""

    case_id: int
    kind: EventKind
    data: dict


@transaction.atomic
def events_record(*, drafts: list[EventDraft], origin: Origin) -> int:
    """Append events to many cases' timelines at once, each chained to its case's last event.

    A fixed number of queries however many cases: one lock, one read of the chain ends, one
    INSERT. Drafts for the same case are chained in the order given.
    """
    if not drafts:
        return 0
    case_ids = sorted({d.case_id for d in drafts})
    # Same lock as event_record, taken in id order so two bulk writers cannot deadlock.
    list(
        Case.objects.select_for_update()
        .filter(pk__in=case_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    ends = {
        row["case_id"]: (row["seq"], row["hash"])
        for row in CaseEvent.objects.filter(case_id__in=case_ids)
        .order_by("case_id", "-seq")
        .distinct("case_id")
        .values("case_id", "seq", "hash")
    }
    now = timezone.now()
    events = []
    for draft in drafts:
        seq, prev = ends.get(draft.case_id, (0, GENESIS_HASH))
        event = CaseEvent(
            case_id=draft.case_id,
            seq=seq + 1,
            kind=draft.kind,
            actor=origin.actor,
            source=origin.source,
            ip=origin.ip,
            data=_plain(draft.data),
            created_at=now,
            prev_hash=prev,
        )
        event.hash = event.compute_hash()
        ends[draft.case_id] = (event.seq, event.hash)
        events.append(event)
    CaseEvent.objects.bulk_create(events)
    return len(events)


@dataclass(frozen=True)
class ChainBreak:
    case_reference: str
    seq: int
    problem: str


def timeline_first_break(case: Case) -> ChainBreak | None:
    """Return the first event whose content or link does not match, or None if the chain holds."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for event in case.events.order_by("seq").iterator():
        if event.seq != expected_seq:
            return ChainBreak(case.reference, expected_seq, "event missing")
        if event.prev_hash != expected_prev:
            return ChainBreak(case.reference, event.seq, "link to the previous event is broken")
        if event.compute_hash() != event.hash:
            return ChainBreak(case.reference, event.seq, "content does not match its hash")
        expected_prev = event.hash
        expected_seq += 1
    return None
