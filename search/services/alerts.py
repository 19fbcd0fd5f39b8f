"""Coordinator alerts: raised by any service, acknowledged by a coordinator (a leaf module)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from search.models import Alert, Case, Task


@dataclass(frozen=True)
class AlertDraft:
    """One alert to raise in bulk: the same fields `alert_raise` takes."""

    case_id: int
    kind: str
    message: str
    task_id: int | None = None


def alert_raise(
    *,
    case: Case,
    kind: str,
    message: str,
    task: Task | None = None,
    once_while_open: bool = False,
    once_with: str = "",
) -> Alert | None:
    """Tell the case's coordinators something needs them; return the alert, or None if held back.

    `once_while_open`: not while an unacknowledged alert of this kind is there. `once_with`: never
    a second alert of this kind whose message holds this text (a partner's code, say).
    """
    existing = Alert.objects.filter(case=case, kind=kind)
    if once_while_open and existing.filter(acknowledged_at__isnull=True).exists():
        return None
    if once_with and existing.filter(message__contains=once_with).exists():
        return None
    return Alert.objects.create(case=case, kind=kind, message=message, task=task)


def alerts_raise(*, drafts: Iterable[AlertDraft]) -> int:
    """Raise many alerts in one INSERT; return how many."""
    rows = [
        Alert(case_id=d.case_id, kind=d.kind, message=d.message, task_id=d.task_id) for d in drafts
    ]
    Alert.objects.bulk_create(rows)
    return len(rows)


def alert_acknowledge(*, case: Case, alert_id: int) -> bool:
    """Mark the case's alert seen; return False if it was not open (or not the case's)."""
    return bool(
        Alert.objects.filter(pk=alert_id, case=case, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now()
        )
    )
