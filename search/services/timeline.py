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
