"""What a field unit does with a task; each step checks the state machine and is recorded.

A state change two people can race for is one conditional UPDATE: zero rows means someone (or
the expiry sweep) got there first, and the caller gets a clear message.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Unit, UnitPosition
from search.choices import (
    AidMessageType,
    AlertKind,
    CaseStatus,
    EventKind,
    EventSource,
    FoundCondition,
    SectorStatus,
    TaskStatus,
)
from search.geo import SRID, make_point
from search.models import Case, FieldAction, Sector, Sighting, Task
from search.photos import clean_photo
from search.services import policy, queue
from search.services.aid import outbound
from search.services.alerts import alert_raise
from search.services.offers import FREED_STATUS, tasks_cancel
from search.services.queue import queue_on_commit
from search.services.task_versions import units_changed
from search.services.timeline import Origin, event_record
from search.validators import check_sighting_time


def _member_of(origin: Origin, task: Task) -> None:
    actor = origin.actor
    if actor is not None and not task.unit.members.filter(pk=actor.pk).exists():
        raise PermissionDenied(_("This task belongs to another unit."))


def _transition(
    *,
    task: Task,
    origin: Origin,
    allowed: tuple[str, ...],
    to: str,
    refused: str,
    only_if: dict[str, Any] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> Task:
    now = now or timezone.now()
    updated = Task.objects.filter(pk=task.pk, status__in=allowed, **(only_if or {})).update(
        status=to, last_activity_at=now, **fields
    )
    if not updated:
        task.refresh_from_db()
        raise ValidationError(refused % {"status": task.get_status_display()}, code="state")
    task.refresh_from_db()
    units_changed(unit_ids=[task.unit_id])
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


@transaction.atomic
def task_accept(*, origin: Origin, task: Task, now: datetime | None = None) -> Task:
    """Accept an offer that is still open and not past its expiry."""
    _member_of(origin, task)
    now = now or timezone.now()
    try:
        task = _transition(
            task=task,
            origin=origin,
            allowed=(TaskStatus.OFFERED,),
            to=TaskStatus.ACCEPTED,
            refused=_("This offer can no longer be accepted (it is %(status)s)."),
            only_if={"expires_at__gt": now},
            now=now,
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
def task_decline(*, origin: Origin, task: Task, reason: str, now: datetime | None = None) -> Task:
    """Decline an offer; the sector goes to the next unit."""
    _member_of(origin, task)
    now = now or timezone.now()
    task = _transition(
        task=task,
        origin=origin,
        allowed=(TaskStatus.OFFERED,),
        to=TaskStatus.DECLINED,
        refused=_("This offer can no longer be declined (it is %(status)s)."),
        now=now,
        answered_at=now,
        note=reason.strip()[:2000],
    )
    Sector.objects.filter(pk=task.sector_id, status=SectorStatus.OFFERED).update(
        status=FREED_STATUS
    )
    queue_on_commit(queue.DISPATCH, task.case_id)
    return task


@transaction.atomic
def task_start(*, origin: Origin, task: Task, now: datetime | None = None) -> Task:
    """Start searching an accepted task's sector."""
    _member_of(origin, task)
    now = now or timezone.now()
    task = _transition(
        task=task,
        origin=origin,
        allowed=(TaskStatus.ACCEPTED,),
        to=TaskStatus.IN_PROGRESS,
        refused=_("Only an accepted task can be started (it is %(status)s)."),
        now=now,
        started_at=now,
    )
    Sector.objects.filter(pk=task.sector_id).update(status=SectorStatus.IN_PROGRESS)
    return task


@transaction.atomic
def task_finish(
    *,
    origin: Origin,
    task: Task,
    coverage: float,
    note: str = "",
    needs_research: bool = False,
    now: datetime | None = None,
) -> Task:
    """Finish a task with how thoroughly the sector was searched (0-1); free the unit.

    The figure is the search's probability of detection (the share of the ground the team is
    confident it would have found the person in); repeated searches combine as independent
    ones, so the sector's coverage is its combined POD and its probability falls by Bayes.
    """
    _member_of(origin, task)
    now = now or timezone.now()
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
        now=now,
        finished_at=now,
        coverage=coverage,
        note=note.strip()[:2000],
    )
    sector = Sector.objects.select_for_update().get(pk=task.sector_id)
    sector.coverage = policy.pod_combined(sector.coverage, coverage)
    sector.status = SectorStatus.NEEDS_RESEARCH if needs_research else SectorStatus.SEARCHED
    sector.save(update_fields=["coverage", "status"])
    outbound.assisting_forward(
        case_id=task.case_id,
        type_=AidMessageType.SECTORS_SEARCHED,
        data={"cells": [sector.h3_index], "coverage": round(sector.coverage, 3)},
    )
    queue_on_commit(queue.DISPATCH, task.case_id)
    return task


@transaction.atomic
def sighting_record(
    *,
    origin: Origin,
    case: Case,
    kind: str,
    point: Point,
    seen_at: datetime,
    description: str = "",
    source: str = "",
    confidence: str = "possible",
    unit: Unit | None = None,
    photo: Any = None,
) -> Sighting:
    """Record a sighting or clue on the case; coordinators confirm it to move the search."""
    check_sighting_time(seen_at, last_seen_at=case.last_seen_at)
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
    if photo:
        sighting.photo = clean_photo(photo)
    sighting.full_clean(exclude=["photo"])
    sighting.save()
    alert_raise(
        case=case,
        kind=AlertKind.SIGHTING,
        message=f"{sighting.get_kind_display()} ({sighting.get_confidence_display()}): "
        f"{sighting.description[:120]}",
    )
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
    if origin.source != EventSource.PARTNER:
        outbound.sighting_shared(
            case=case,
            point=point,
            data={
                "kind": kind,
                "point": {"type": "Point", "coordinates": [point.x, point.y]},
                "seen_at": seen_at.isoformat(),
                "description": sighting.description,
                "confidence": confidence,
            },
        )
    return sighting


# Positions: a phone claiming worse than this is not a position worth sharing.
MAX_ACCURACY_M = 5_000


@transaction.atomic
def unit_set_availability(*, origin: Origin, unit: Unit, availability: str) -> Unit:
    """Switch the unit between available, busy and off duty; freed units drain the queue."""
    if availability not in Unit.Availability.values:
        raise ValidationError({"availability": _("Choose available, busy or off duty.")})
    if origin.actor is not None and not unit.members.filter(pk=origin.actor.pk).exists():
        raise PermissionDenied(_("You are not a member of this unit."))
    Unit.objects.filter(pk=unit.pk).update(availability=availability)
    unit.refresh_from_db()
    if availability == Unit.Availability.AVAILABLE:
        queue_on_commit(queue.DISPATCH_SWEEP)
    return unit


@dataclass(frozen=True)
class PositionShared:
    """What a position report did: which unit moved, and whether it was a replay."""

    unit_id: int
    replayed: bool


# The unit chosen, the track row and the unit's last position in one statement: a position is
# the hottest write there is (every unit, every minute), and a single statement is atomic on
# its own, with no transaction to open and commit around it. The unit moves only through the
# track row it inserted: a replayed id inserts nothing, and so moves nothing. Only our constant
# and the ORM's compiled SQL are formatted in; every value is a parameter.
_POSITION_SQL = f"""
WITH target(id) AS ({{target}}),
track AS (
    INSERT INTO accounts_unitposition (unit_id, reported_by_id, point, accuracy_m, at, client_id)
    SELECT target.id, %s, ST_SetSRID(ST_MakePoint(%s, %s), {SRID})::geography, %s, %s, %s
    FROM target
    ON CONFLICT (client_id) DO NOTHING
    RETURNING unit_id, point, at
),
moved AS (
    UPDATE accounts_unit AS unit SET last_position = track.point, last_position_at = track.at
    FROM track
    WHERE unit.id = track.unit_id
      -- Two reports racing: the later one stays the unit's last position.
      AND (unit.last_position_at IS NULL OR unit.last_position_at <= track.at)
    RETURNING unit.id
)
SELECT (SELECT id FROM target), EXISTS (SELECT 1 FROM track)
"""  # noqa: S608


def position_share(
    *,
    origin: Origin,
    unit_id: int | None,
    client_id: uuid.UUID,
    lat: float,
    lon: float,
    accuracy_m: float | None,
) -> PositionShared:
    """Record where one of the member's units is now (the one named, or their first).

    The unit's last position is what the coordinator's map and matching use; each report is
    also a point on the unit's track, kept for POSITION_TRACK_RETENTION_HOURS. A position is
    not a case event: nothing is written to any timeline. The time is the server's, never the
    phone's clock, so no report can carry an impossible time. The same client id again is a
    replay (answered alike, stored once); with another position it is a ReplayConflict.
    """
    try:
        point = make_point(lon=lon, lat=lat)
    except ValueError as exc:
        raise ValidationError(
            {"position": _("A position has latitude -90..90 and longitude -180..180.")}
        ) from exc
    if accuracy_m is not None and not 0 < accuracy_m <= MAX_ACCURACY_M:
        raise ValidationError(
            {"accuracy": _("This accuracy is not believable (more than 5 km, or not positive).")}
        )
    actor = origin.actor
    units = Unit.objects.filter(members=actor) if actor is not None else Unit.objects.all()
    units = units.filter(pk=unit_id).order_by() if unit_id is not None else units
    target_sql, target_params = units.values("pk")[:1].query.sql_with_params()
    actor_id = actor.pk if actor is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            _POSITION_SQL.format(target=target_sql),
            [
                *target_params,
                actor_id,
                point.x,
                point.y,
                accuracy_m,
                timezone.now(),
                client_id,
            ],
        )
        found_unit, inserted = cursor.fetchone()
    if found_unit is None:
        raise PermissionDenied(_("You are not a member of this unit."))
    if not inserted:
        first = UnitPosition.objects.filter(client_id=client_id).first()
        same = first is not None and (
            (first.reported_by_id, first.unit_id, first.point.coords, first.accuracy_m)
            == (actor_id, found_unit, point.coords, accuracy_m)
        )
        if not same:
            raise ReplayConflict
    return PositionShared(unit_id=found_unit, replayed=not inserted)


# Old track rows go a batch per statement, so that no delete holds its locks for long.
POSITIONS_PRUNE_BATCH = 5_000


def positions_prune(*, now: datetime | None = None) -> int:
    """Delete track positions older than POSITION_TRACK_RETENTION_HOURS; return how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.POSITION_TRACK_RETENTION_HOURS)
    total = 0
    while True:
        batch = UnitPosition.objects.filter(at__lt=cutoff).values("pk")[:POSITIONS_PRUNE_BATCH]
        deleted, _counts = UnitPosition.objects.filter(pk__in=Subquery(batch)).delete()
        total += deleted
        if deleted < POSITIONS_PRUNE_BATCH:
            return total


@transaction.atomic
def found_report(
    *,
    origin: Origin,
    case: Case,
    point: Point,
    seen_at: datetime,
    condition: str,
    with_whom: str,
    description: str = "",
    unit: Unit | None = None,
    now: datetime | None = None,
) -> Sighting:
    """The person is found: tell the coordinator at once and stop new offers for the case."""
    check_sighting_time(seen_at, last_seen_at=case.last_seen_at)
    now = now or timezone.now()
    if condition not in FoundCondition.values:
        raise ValidationError({"condition": _("Say how the person is.")})
    if not with_whom.strip():
        raise ValidationError({"with_whom": _("Say who has the person now.")})
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if not locked.is_open:
        raise ValidationError(_("This case is no longer open."), code="state")
    found = Sighting(
        case=locked,
        kind="found",
        point=point,
        seen_at=seen_at,
        description=description.strip(),
        confidence="confirmed",
        condition=condition,
        with_whom=with_whom.strip(),
        reported_by=origin.actor,
        unit=unit,
        confirmed_at=now,
    )
    found.full_clean(exclude=["photo"])
    found.save()
    Case.objects.filter(pk=locked.pk).update(
        status=CaseStatus.FOUND, located_at=Coalesce(F("located_at"), found.confirmed_at)
    )
    tasks_cancel(
        tasks=Task.objects.filter(case=locked, status=TaskStatus.OFFERED),
        reason="The person was reported found",
        now=now,
    )
    alert_raise(
        case=locked,
        kind=AlertKind.FOUND,
        message=f"{FoundCondition(condition).label}; with {with_whom.strip()}",
    )
    event_record(
        case=locked,
        kind=EventKind.FOUND_REPORTED,
        origin=origin,
        data={
            "sighting": found.pk,
            "condition": condition,
            "with": with_whom.strip(),
            "at": [round(point.x, 6), round(point.y, 6)],
        },
    )
    if origin.source != EventSource.PARTNER:
        outbound.assisting_forward(
            case_id=locked.pk,
            type_=AidMessageType.FOUND,
            data={
                "point": {"type": "Point", "coordinates": [point.x, point.y]},
                "found_at": seen_at.isoformat(),
                "condition": condition,
                "with_whom": with_whom.strip(),
                "description": found.description,
            },
        )
    return found


class ReplayConflict(Exception):
    """The id was used before for a different action."""


def _body_hash(kind: str, body: dict) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def field_action_apply(
    *, user: Any, client_id: Any, kind: str, body: dict, run: Callable[[], dict | None]
) -> tuple[int, dict]:
    """Apply an action from a phone once: a replay of the same id and body gets the first answer.

    `run` does the work and returns a dict for the phone; a ValidationError the state raises
    comes back as 409, bad input as 400, and both are remembered like a success.
    """
    digest = _body_hash(kind, body)
    try:
        with transaction.atomic():
            previous = FieldAction.objects.select_for_update().filter(client_id=client_id).first()
            if previous is not None:
                if previous.user_id != user.pk or previous.body_hash != digest:
                    raise ReplayConflict
                return previous.status_code, {**previous.response, "replayed": True}
            try:
                with transaction.atomic():
                    status, response = 200, {"ok": True, **(run() or {})}
            except ValidationError as exc:
                status = 409 if getattr(exc, "code", None) in ("state", "expired") else 400
                fields = exc.message_dict if hasattr(exc, "error_dict") else {}
                response = {"ok": False, "error": " ".join(exc.messages), "fields": fields}
            except PermissionDenied as exc:
                status, response = 403, {"ok": False, "error": str(exc) or _("Not allowed.")}
            FieldAction.objects.create(
                client_id=client_id,
                user=user,
                kind=kind,
                body_hash=digest,
                status_code=status,
                response=response,
            )
            return status, response
    except IntegrityError:
        # The same id arrived twice at once: the other request stored the answer.
        previous = FieldAction.objects.get(client_id=client_id)
        if previous.user_id != user.pk or previous.body_hash != digest:
            raise ReplayConflict from None
        return previous.status_code, {**previous.response, "replayed": True}
