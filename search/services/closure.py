"""Ending a case: the report withdrawn, or the outcome recorded and the case closed."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from search import permissions
from search.choices import CaseStatus, EventKind, Outcome
from search.models import Case
from search.services.timeline import Origin, event_record


def _lock_open(case: Case) -> Case:
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
    current = _lock_open(case)
    if current.status not in (CaseStatus.OPEN, CaseStatus.ACTIVE):
        raise ValidationError(_("Only an open report can be withdrawn."), code="not_open")
    old = current.status
    current.status = CaseStatus.CLOSED
    current.outcome = Outcome.WITHDRAWN
    current.outcome_note = reason
    current.closed_at = timezone.now()
    current.version = F("version") + 1
    current.save()
    current.refresh_from_db()
    event_record(
        case=current,
        kind=EventKind.WITHDRAWN,
        origin=origin,
        data={"old_status": old, "reason": reason},
    )
    _wind_up(current, origin=origin, outcome=Outcome.WITHDRAWN, note=reason)
    return current


@transaction.atomic
def case_close(*, origin: Origin, case: Case, outcome: str, note: str = "") -> Case:
    """Record how the case ended and close it."""
    if not permissions.can_close_case(origin.actor):
        raise PermissionDenied(_("Only coordinators may close cases."))
    if outcome not in Outcome.values or outcome == Outcome.WITHDRAWN:
        raise ValidationError({"outcome": _("Choose how the case ended.")}, code="invalid")
    current = _lock_open(case)
    old = current.status
    current.status = CaseStatus.CLOSED
    current.outcome = outcome
    current.outcome_note = note.strip()
    current.closed_at = timezone.now()
    current.version = F("version") + 1
    current.save()
    current.refresh_from_db()
    event_record(
        case=current,
        kind=EventKind.OUTCOME_RECORDED,
        origin=origin,
        data={"old_status": old, "outcome": outcome, "note": current.outcome_note},
    )
    _wind_up(current, origin=origin, outcome=outcome, note=current.outcome_note)
    return current


def _wind_up(case: Case, *, origin: Origin, outcome: str, note: str) -> None:
    """Cancel the open tasks; tell the partners we asked, and the one we help, that it ended."""
    from search.models import Task
    from search.services import mutual_aid
    from search.services.dispatch import tasks_cancel

    tasks_cancel(
        tasks=Task.objects.open().filter(case=case),
        reason=f"Case closed ({outcome})",
        now=timezone.now(),
    )
    mutual_aid.origin_case_ended(case=case, outcome=outcome, note=note)
    mutual_aid.assisting_case_ended(origin=origin, case=case, outcome=outcome, note=note)
