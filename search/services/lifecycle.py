"""The one place a case is opened or ended.

Intake and an accepted partner's request open cases through `case_create`; closing, withdrawing
and a partner's closed or cancelled message end them through `case_end`, which cancels the open
tasks and tells the partners.
"""

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation
from search import permissions
from search.choices import LOCATED_OUTCOMES, CaseStatus, EventKind, Outcome
from search.models import Case, Task
from search.photos import clean_photo
from search.services import queue
from search.services.aid import outbound
from search.services.offers import tasks_cancel
from search.services.queue import queue_on_commit
from search.services.timeline import Origin, event_first, event_record

# The longest outcome note: the model's and the partner message's limit.
MAX_NOTE = 2000
# Filled in here, not by whoever opens the case.
_SET_BY_CREATE = ["photo", "reference", "linked_cases"]
# Rows the caller holds already (the filer's organisation, the filer): no query to find them.
_KNOWN_TO_EXIST = ["organisation", "created_by"]


def next_reference(organisation: Organisation, when: datetime) -> str:
    """Return the next reference ORG-YYYY-NNNNNN; gap-free because it rolls back with the case."""
    year = timezone.localtime(when).year
    # One statement takes the row lock and increments: concurrent intakes queue on the lock, and
    # a rolled-back intake hands its number back.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO search_casereferencecounter (organisation_id, year, last_number)
            VALUES (%s, %s, 1)
            ON CONFLICT (organisation_id, year)
            DO UPDATE SET last_number = search_casereferencecounter.last_number + 1
            RETURNING last_number
            """,
            [organisation.pk, year],
        )
        (number,) = cursor.fetchone()
    return f"{organisation.code}-{year}-{number:06d}"


@transaction.atomic
def case_create(
    *,
    origin: Origin,
    organisation: Organisation,
    values: dict[str, Any],
    photo: Any = None,
    event_data: dict[str, Any] | None = None,
    not_checked: tuple[str, ...] = (),
) -> Case:
    """Open a case: its reference, the model's checks, its first event, dispatch on commit.

    `values` are the case's fields (priority included); `not_checked` names fields the source
    may leave out (a partner's summary has no sex, say).
    """
    case = Case(
        **values,
        organisation=organisation,
        reference=next_reference(organisation, timezone.now()),
        created_by=origin.actor,
    )
    if photo:
        case.photo = clean_photo(photo)
    exclude = {*_SET_BY_CREATE, *_KNOWN_TO_EXIST, *not_checked}
    case.full_clean(exclude=exclude)
    case.save()
    event_first(
        case=case,
        kind=EventKind.CREATED,
        origin=origin,
        data={
            "reference": case.reference,
            "priority": case.priority,
            "category": case.category,
            **(event_data or {}),
        },
    )
    queue_on_commit(queue.DISPATCH, case.pk)
    return case


@transaction.atomic
def case_end(
    *,
    origin: Origin,
    case: Case,
    outcome: str,
    note: str = "",
    kind: EventKind = EventKind.OUTCOME_RECORDED,
    event_data: dict[str, Any] | None = None,
    tasks_reason: str = "",
    now: datetime | None = None,
) -> Case:
    """End the case with its outcome: closed, recorded, open tasks cancelled, partners told.

    The event holds the old status and `event_data` (by default the outcome and the note). A
    case already closed stays as it is (a partner's late closure), but open tasks are cancelled.
    """
    # Kept, told to partners and recorded alike: a partner refuses a longer note.
    note = note[:MAX_NOTE]
    current = Case.objects.select_for_update().select_related("organisation").get(pk=case.pk)
    ending = current.status != CaseStatus.CLOSED
    now = now or timezone.now()
    if ending:
        old = current.status
        Case.objects.filter(pk=current.pk).update(
            status=CaseStatus.CLOSED,
            outcome=outcome,
            outcome_note=note,
            closed_at=now,
            # A found report already said when; a case closed as found straight away is
            # located now.
            located_at=Coalesce(F("located_at"), now) if outcome in LOCATED_OUTCOMES else None,
            version=F("version") + 1,
        )
        current.refresh_from_db()
        data = event_data if event_data is not None else {"outcome": outcome, "note": note}
        event_record(case=current, kind=kind, origin=origin, data={"old_status": old, **data})
    tasks_cancel(
        tasks=Task.objects.open().filter(case=current),
        reason=tasks_reason or f"Case closed ({current.outcome})",
        now=now,
    )
    if ending:
        outbound.case_ended(origin=origin, case=current, outcome=outcome, note=note)
    return current


def _refuse_closed(case: Case) -> Case:
    current = Case.objects.select_for_update().get(pk=case.pk)
    if current.status == CaseStatus.CLOSED:
        raise ValidationError(_("The case is already closed."), code="closed")
    return current


@transaction.atomic
def case_withdraw(*, origin: Origin, case: Case, reason: str) -> Case:
    """Close a report that was withdrawn (the person was never missing, or it was a mistake)."""
    if not permissions.can_withdraw_case(origin.actor):
        raise PermissionDenied(_("You may not withdraw reports."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the report is withdrawn.")}, code="required")
    current = _refuse_closed(case)
    if current.status not in (CaseStatus.OPEN, CaseStatus.ACTIVE):
        raise ValidationError(_("Only an open report can be withdrawn."), code="not_open")
    return case_end(
        origin=origin,
        case=current,
        outcome=Outcome.WITHDRAWN,
        note=reason,
        kind=EventKind.WITHDRAWN,
        event_data={"reason": reason},
    )


@transaction.atomic
def case_close(
    *, origin: Origin, case: Case, outcome: str, note: str = "", now: datetime | None = None
) -> Case:
    """Record how the case ended and close it."""
    if not permissions.can_close_case(origin.actor):
        raise PermissionDenied(_("Only coordinators may close cases."))
    if outcome not in Outcome.values or outcome == Outcome.WITHDRAWN:
        raise ValidationError({"outcome": _("Choose how the case ended.")}, code="invalid")
    current = _refuse_closed(case)
    return case_end(origin=origin, case=current, outcome=outcome, note=note.strip(), now=now)
