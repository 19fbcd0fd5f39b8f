"""What a field unit does with a task; each step checks the state machine and is recorded.

A state change two people can race for is one conditional UPDATE: zero rows means someone (or
the expiry sweep) got there first, and the caller gets a clear message.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from search.choices import EventKind, SectorStatus, TaskStatus
from search.models import Sector, Task
from search.services.timeline import Origin, event_record


def _member_of(origin: Origin, task: Task) -> None:
    actor = origin.actor
    if actor is not None and not task.unit.members.filter(pk=actor.pk).exists():
        raise PermissionDenied(_("This task belongs to another unit."))


def _transition(
    *, task: Task, origin: Origin, allowed: tuple, to: str, refused: str, only_if=None, **fields
):
    now = timezone.now()
    updated = Task.objects.filter(pk=task.pk, status__in=allowed, **(only_if or {})).update(
        status=to, last_activity_at=now, **fields
    )
    if not updated:
        task.refresh_from_db()
        raise ValidationError(refused % {"status": task.get_status_display()}, code="state")
    task.refresh_from_db()
    event_record(
        case=task.case,
        kind=EventKind.TASK_CHANGED,
        origin=origin,
        data={
            "task": task.pk,
            "sector": task.sector.h3_index,
            "unit": task.unit.name,
            "status": to,
        },
    )
    return task


def _queue_dispatch(case_id: int) -> None:
    from search.tasks import dispatch

    dispatch.delay_on_commit(case_id)


@transaction.atomic
def task_accept(*, origin: Origin, task: Task) -> Task:
    """Accept an offer that is still open and not past its expiry."""
    _member_of(origin, task)
    now = timezone.now()
    try:
        task = _transition(
            task=task,
            origin=origin,
            allowed=(TaskStatus.OFFERED,),
            to=TaskStatus.ACCEPTED,
            refused=_("This offer can no longer be accepted (it is %(status)s)."),
            only_if={"expires_at__gt": now},
            answered_at=now,
        )
    except ValidationError:
        if task.status == TaskStatus.OFFERED:  # past its time, not yet swept
            raise ValidationError(
                _("This offer has expired; it goes to another unit."), code="expired"
            ) from None
        raise
    Sector.objects.filter(pk=task.sector_id).update(status=SectorStatus.ASSIGNED)
    return task


@transaction.atomic
def task_decline(*, origin: Origin, task: Task, reason: str) -> Task:
    """Decline an offer; the sector goes to the next unit."""
    _member_of(origin, task)
    task = _transition(
        task=task,
        origin=origin,
        allowed=(TaskStatus.OFFERED,),
        to=TaskStatus.DECLINED,
        refused=_("This offer can no longer be declined (it is %(status)s)."),
        answered_at=timezone.now(),
        note=reason.strip()[:2000],
    )
    Sector.objects.filter(pk=task.sector_id, status=SectorStatus.OFFERED).update(
        status=SectorStatus.UNASSIGNED
    )
    _queue_dispatch(task.case_id)
    return task


@transaction.atomic
def task_start(*, origin: Origin, task: Task) -> Task:
    _member_of(origin, task)
    task = _transition(
        task=task,
        origin=origin,
        allowed=(TaskStatus.ACCEPTED,),
        to=TaskStatus.IN_PROGRESS,
        refused=_("Only an accepted task can be started (it is %(status)s)."),
        started_at=timezone.now(),
    )
    Sector.objects.filter(pk=task.sector_id).update(status=SectorStatus.IN_PROGRESS)
    return task


@transaction.atomic
def task_finish(
    *, origin: Origin, task: Task, coverage: float, note: str = "", needs_research: bool = False
) -> Task:
    """Finish a task with how thoroughly the sector was searched (0-1); free the unit."""
    _member_of(origin, task)
    if not 0 <= coverage <= 1:
        raise ValidationError(
            {"coverage": _("Coverage must be between 0 and 1 (0 to 100 percent).")}
        )
    task = _transition(
        task=task,
        origin=origin,
        allowed=(TaskStatus.IN_PROGRESS,),
        to=TaskStatus.DONE,
        refused=_("Only a task in progress can be finished (it is %(status)s)."),
        finished_at=timezone.now(),
        coverage=coverage,
        note=note.strip()[:2000],
    )
    sector = Sector.objects.select_for_update().get(pk=task.sector_id)
    # Independent searches combine: the chance of having missed the person multiplies.
    sector.coverage = 1 - (1 - sector.coverage) * (1 - coverage)
    sector.status = SectorStatus.NEEDS_RESEARCH if needs_research else SectorStatus.SEARCHED
    sector.save(update_fields=["coverage", "status"])
    _queue_dispatch(task.case_id)
    return task


@transaction.atomic
def sighting_record(
    *,
    origin: Origin,
    case,
    kind: str,
    point,
    seen_at,
    description: str = "",
    source: str = "",
    confidence: str = "possible",
    unit=None,
):
    """Record a sighting or clue on the case; coordinators confirm it to move the search."""
    from search.models import Sighting

    if seen_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"seen_at": _("The time of the sighting is in the future.")})
    sighting = Sighting(
        case=case,
        kind=kind,
        point=point,
        seen_at=seen_at,
        description=description.strip(),
        source=source.strip(),
        confidence=confidence,
        reported_by=origin.actor,
        unit=unit,
    )
    sighting.full_clean()
    sighting.save()
    event_record(
        case=case,
        kind=EventKind.SIGHTING_REPORTED,
        origin=origin,
        data={
            "sighting": sighting.pk,
            "kind": kind,
            "confidence": confidence,
            "at": [round(point.x, 6), round(point.y, 6)],
        },
    )
    return sighting
