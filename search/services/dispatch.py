"""From a case to sectors offered to units: search area, H3 sectors, matching, supervision.

Dispatch runs in two transactions. The first computes the search area and its sectors (once per
case, or when the area changes); the second matches sectors that still wait to units and writes
the offers. A worker killed between or inside them leaves the database consistent, and running
dispatch again finishes the job: nothing is created twice (constraints on Task, and a lock).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation
from search.choices import (
    AlertKind,
    AreaReason,
    CaseStatus,
    EventKind,
    SectorStatus,
    TaskStatus,
)
from search.geo import SRID, cell_wkt, cells_in_rings, choose_resolution, circle
from search.models import Alert, Case, SearchArea, Sector, SubjectProfile, Task
from search.models.tasks import OPEN_TASK_STATUSES
from search.services import queue
from search.services.queue import queue_on_commit
from search.services.timeline import Origin, event_record

logger = logging.getLogger(__name__)

# One lock for every offer-making transaction: the per-unit cap then holds across cases.
OFFERS_LOCK_KEY = 0x6265_6163  # "beac"
# Sectors written per INSERT when an area is cut.
SECTOR_BATCH_SIZE = 1000
WAITING_SECTOR_STATUSES = (SectorStatus.UNASSIGNED, SectorStatus.NEEDS_RESEARCH)


def conf(name: str):
    return settings.DISPATCH[name]


def root_organisation(organisation: Organisation) -> Organisation:
    while organisation.parent_id:
        organisation = organisation.parent
    return organisation


def organisation_family_ids(organisation: Organisation) -> list[int]:
    """Return the ids of the case's whole city: its root organisation and all below."""
    from accounts.selectors import organisation_tree_ids

    return organisation_tree_ids(root_organisation(organisation))


# --- Search area and sectors --------------------------------------------------------------------


@dataclass(frozen=True)
class AreaPlan:
    profile: SubjectProfile
    radii_m: list[float]
    cap_m: float


def area_plan(*, case: Case, centred_at: datetime, now: datetime) -> AreaPlan | None:
    """Return the rings for this case at this time, or None if no profile fits it."""
    profile = SubjectProfile.objects.filter(category=case.category, terrain=case.terrain).first()
    if profile is None:
        return None
    hours = max((now - centred_at).total_seconds(), 0) / 3600
    cap = max(profile.speed_kmh * 1000 * hours, conf("MIN_REACH_M"))
    radii = [float(min(d, cap)) for d in profile.distances]
    return AreaPlan(profile=profile, radii_m=radii, cap_m=cap)


@transaction.atomic
def area_compute(
    *,
    case: Case,
    reason: str,
    origin: Origin,
    centre: Point | None = None,
    centred_at: datetime | None = None,
    now: datetime | None = None,
    note: str = "",
) -> SearchArea | None:
    """Compute a new version of the case's search area and bring its sectors up to date."""
    now = now or timezone.now()
    case = Case.objects.select_for_update().get(pk=case.pk)
    previous = case.areas.filter(is_current=True).first()
    if centre is None:
        centre = previous.centre if previous else case.last_seen_point
        centred_at = previous.centred_at if previous else case.last_seen_at
    plan = area_plan(case=case, centred_at=centred_at, now=now)
    if plan is None:
        alert_raise(
            case=case,
            kind=AlertKind.NO_UNITS,
            message=f"No subject profile for {case.category}/{case.terrain}.",
        )
        return None
    resolution = choose_resolution(plan.radii_m[-1])
    if previous:
        # Keep the cells of earlier versions (their status and coverage) unless the area has
        # grown too large for that resolution.
        resolution = min(previous.resolution, resolution)
    lat, lon = centre.y, centre.x
    cells = cells_in_rings(lat=lat, lon=lon, radii_m=plan.radii_m, resolution=resolution)
    if previous:
        SearchArea.objects.filter(pk=previous.pk).update(is_current=False)
    area = SearchArea.objects.create(
        case=case,
        version=(previous.version + 1) if previous else 1,
        previous=previous,
        reason=reason,
        centre=Point(lon, lat, srid=SRID),
        centred_at=centred_at,
        computed_at=now,
        radii_m=[round(r) for r in plan.radii_m],
        cap_m=round(plan.cap_m),
        resolution=resolution,
        profile=plan.profile,
        boundary=circle(lat=lat, lon=lon, radius_m=max(plan.radii_m[-1], 1)),
        note=note,
    )
    added, retired, cancelled = _sectors_sync(case=case, area=area, cells=cells, now=now)
    from search.services import mutual_aid

    if not case.aid_requests.filter(direction="inbound").exists():
        # The search reaches a neighbour's ground: propose (or send) a request for aid. An
        # assisting case does not ask the city it is helping.
        mutual_aid.aid_propose(case=case)
    event_record(
        case=case,
        kind=EventKind.AREA_COMPUTED,
        origin=origin,
        data={
            "version": area.version,
            "reason": reason,
            "radii_m": area.radii_m,
            "sectors": len(cells),
            "added": added,
            "retired": retired,
            "tasks_cancelled": cancelled,
        },
    )
    return area


def _sectors_sync(*, case: Case, area: SearchArea, cells, now: datetime) -> tuple[int, int, int]:
    """Create new sectors, re-weight kept ones, retire those left outside; return the counts."""
    existing = dict(case.sectors.values_list("h3_index", "pk"))
    wanted = {cell.h3_index: cell for cell in cells}
    new = [c for key, c in wanted.items() if key not in existing]
    # One INSERT from arrays: building thousands of model instances and geometries in Python
    # costs several times what the database needs to write them.
    for start in range(0, len(new), SECTOR_BATCH_SIZE):
        batch = new[start : start + SECTOR_BATCH_SIZE]
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_SECTORS_SQL,
                {
                    "case": case.pk,
                    "area": area.pk,
                    "cells": [c.h3_index for c in batch],
                    "rings": [c.ring for c in batch],
                    "weights": [c.weight for c in batch],
                    "lons": [c.lon for c in batch],
                    "lats": [c.lat for c in batch],
                    "boundaries": [cell_wkt(c.h3_index) for c in batch],
                },
            )
    kept = [key for key in wanted if key in existing]
    if kept:
        # One statement re-weights every kept sector from a VALUES list.
        rows = [(existing[k], wanted[k].ring, wanted[k].weight) for k in kept]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE search_sector s SET ring = v.ring, weight = v.weight, area_id = %s,
                       in_current_area = TRUE
                FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::int[]) AS ring,
                             unnest(%s::float8[]) AS weight) v
                WHERE s.id = v.id
                """,
                [area.pk, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
    gone = [pk for key, pk in existing.items() if key not in wanted]
    cancelled = 0
    if gone:
        Sector.objects.filter(pk__in=gone).update(in_current_area=False)
        cancelled = tasks_cancel(
            tasks=Task.objects.open().filter(sector_id__in=gone),
            reason=f"Outside search area v{area.version} ({area.get_reason_display()})",
            now=now,
        )
    _mark_outside_jurisdiction(case)
    return len(new), len(gone), cancelled


INSERT_SECTORS_SQL = """
INSERT INTO search_sector (case_id, h3_index, area_id, ring, weight, status, in_current_area,
                           coverage, required_capability, outside_jurisdiction, centroid, boundary)
SELECT %(case)s, v.cell, %(area)s, v.ring, v.weight, 'unassigned', TRUE, 0, '', FALSE,
       ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326), ST_GeomFromText(v.wkt, 4326)
FROM unnest(%(cells)s::text[], %(rings)s::int[], %(weights)s::float8[], %(lons)s::float8[],
            %(lats)s::float8[], %(boundaries)s::text[]) AS v(cell, ring, weight, lon, lat, wkt)
ON CONFLICT (case_id, h3_index) DO NOTHING
"""


def _mark_outside_jurisdiction(case: Case) -> None:
    """Flag sectors outside the city's jurisdictions, naming the partner whose region holds them."""
    family = organisation_family_ids(case.organisation)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE search_sector s
            SET outside_jurisdiction = TRUE,
                partner_id = (SELECT p.id FROM accounts_partner p
                              WHERE p.is_active AND ST_Contains(p.region, s.centroid)
                              ORDER BY p.id LIMIT 1)
            WHERE s.case_id = %s AND NOT s.outside_jurisdiction AND NOT EXISTS (
                SELECT 1 FROM accounts_organisation o
                WHERE o.id = ANY(%s) AND ST_Contains(o.jurisdiction, s.centroid))
            """,
            [case.pk, family],
        )


def tasks_cancel(*, tasks, reason: str, now: datetime) -> int:
    """Cancel open tasks, free their sectors, and say why on each case's timeline."""
    cancelled = list(
        tasks.filter(status__in=OPEN_TASK_STATUSES).values_list("pk", "case_id", "sector_id")
    )
    if not cancelled:
        return 0
    ids = [pk for pk, _, _ in cancelled]
    Task.objects.filter(pk__in=ids).update(
        status=TaskStatus.CANCELLED, note=reason[:2000], finished_at=now, last_activity_at=now
    )
    Sector.objects.filter(pk__in=[s for _, _, s in cancelled]).exclude(
        status=SectorStatus.SEARCHED
    ).update(status=SectorStatus.UNASSIGNED)
    for case_id in {c for _, c, _ in cancelled}:
        count = sum(1 for _, c, _ in cancelled if c == case_id)
        case = Case.objects.get(pk=case_id)
        alert_raise(case=case, kind=AlertKind.TASKS_CANCELLED, message=f"{count} task(s): {reason}")
        event_record(
            case=case,
            kind=EventKind.TASK_CHANGED,
            origin=Origin.system(),
            data={"cancelled": count, "reason": reason},
        )
    return len(cancelled)


# --- Matching and offers ------------------------------------------------------------------------

CANDIDATES_SQL = """
WITH waiting AS MATERIALIZED (
    SELECT s.id, s.centroid, s.weight, s.required_capability
    FROM search_sector s
    WHERE s.case_id = %(case)s
      AND s.in_current_area AND NOT s.outside_jurisdiction
      AND s.status = ANY(%(waiting)s)
      AND NOT EXISTS (SELECT 1 FROM search_task t
                      WHERE t.sector_id = s.id AND t.status = ANY(%(open)s))
)
SELECT w.id, c.unit_id, c.distance
FROM waiting w
CROSS JOIN LATERAL (
    SELECT u.id AS unit_id,
           ST_Distance(u.last_position, w.centroid::geography, false) AS distance
    FROM accounts_unit u
    WHERE u.availability = 'available'
      AND u.organisation_id = ANY(%(family)s)
      AND ST_Contains(u.home_area, w.centroid)
      AND (w.required_capability = '' OR w.required_capability = ANY(u.capabilities))
      AND NOT EXISTS (SELECT 1 FROM search_task t WHERE t.sector_id = w.id AND t.unit_id = u.id)
    ORDER BY distance ASC NULLS LAST, u.id
    LIMIT %(per_sector)s
) c
ORDER BY w.weight DESC, w.id, c.distance ASC NULLS LAST, c.unit_id
"""

INSERT_TASKS_SQL = """
INSERT INTO search_task (case_id, sector_id, unit_id, status, rank, distance_m, offered_at,
                         expires_at, last_activity_at, note)
SELECT %(case)s, v.sector_id, v.unit_id, 'offered',
       (SELECT count(*) FROM search_task t WHERE t.sector_id = v.sector_id) + 1,
       v.distance, %(now)s, %(expires)s, %(now)s, ''
FROM (SELECT unnest(%(sectors)s::bigint[]) AS sector_id, unnest(%(units)s::bigint[]) AS unit_id,
             unnest(%(distances)s::float8[]) AS distance) v
ON CONFLICT DO NOTHING
RETURNING id, sector_id
"""


@dataclass
class OfferResult:
    offered: list[int]  # task ids
    waiting: int  # sectors left in the queue (no unit free)
    unreachable: int  # sectors no unit could ever take (none covers them)


@transaction.atomic
def offers_make(*, case: Case, now: datetime | None = None) -> OfferResult:
    """Offer the waiting sectors of a case, highest probability first, nearest unit first."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OFFERS_LOCK_KEY])
    case = Case.objects.get(pk=case.pk)
    if not case.is_open or case.search_paused:
        return OfferResult([], 0, 0)
    cap = conf("MAX_OPEN_TASKS_PER_UNIT")
    with connection.cursor() as cursor:
        cursor.execute(
            CANDIDATES_SQL,
            {
                "family": organisation_family_ids(case.organisation),
                "per_sector": conf("CANDIDATES_PER_SECTOR"),
                "case": case.pk,
                "waiting": list(WAITING_SECTOR_STATUSES),
                "open": list(OPEN_TASK_STATUSES),
            },
        )
        rows = cursor.fetchall()
    load = dict(
        Task.objects.open()
        .filter(unit_id__in={unit for _, unit, _ in rows})
        .values("unit_id")
        .annotate(n=Count("pk"))
        .values_list("unit_id", "n")
    )
    choice: dict[int, tuple[int, float | None]] = {}  # sector -> (unit, distance)
    for sector_id, unit_id, distance in rows:
        if sector_id in choice or load.get(unit_id, 0) >= cap:
            continue
        choice[sector_id] = (unit_id, distance)
        load[unit_id] = load.get(unit_id, 0) + 1
    offered: list[int] = []
    if choice:
        sectors = list(choice)
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_TASKS_SQL,
                {
                    "case": case.pk,
                    "now": now,
                    "expires": now + timedelta(seconds=conf("OFFER_TIMEOUT_SECONDS")),
                    "sectors": sectors,
                    "units": [choice[s][0] for s in sectors],
                    "distances": [choice[s][1] for s in sectors],
                },
            )
            created = cursor.fetchall()
        offered = [task_id for task_id, _ in created]
        Sector.objects.filter(pk__in=[s for _, s in created]).update(status=SectorStatus.OFFERED)
    waiting_q = Sector.objects.filter(
        case=case,
        in_current_area=True,
        outside_jurisdiction=False,
        status__in=WAITING_SECTOR_STATUSES,
    )
    waiting = waiting_q.count()
    unreachable = waiting - len({s for s, _, _ in rows} - set(choice))
    if offered:
        if case.status == CaseStatus.OPEN:
            Case.objects.filter(pk=case.pk, status=CaseStatus.OPEN).update(status=CaseStatus.ACTIVE)
        from search.services import mutual_aid

        mutual_aid.assisting_case_activated(case_id=case.pk)
        event_record(
            case=case,
            kind=EventKind.OFFERS_MADE,
            origin=Origin.system(),
            data={"offers": len(offered), "waiting": waiting},
        )
        queue_on_commit(queue.OFFERS_NOTIFY, offered)
    if (
        unreachable
        and not Alert.objects.filter(
            case=case, kind=AlertKind.NO_UNITS, acknowledged_at__isnull=True
        ).exists()
    ):
        alert_raise(
            case=case,
            kind=AlertKind.NO_UNITS,
            message=f"{unreachable} sector(s) have no available unit whose area covers them.",
        )
    return OfferResult(offered=offered, waiting=waiting, unreachable=unreachable)


def dispatch_case(*, case_id: int) -> OfferResult | None:
    """Make sure the case has a search area, then offer what waits. Safe to run any number of
    times, concurrently or after a crash."""
    case = Case.objects.select_related("organisation").filter(pk=case_id).first()
    if case is None or not case.is_open:
        return None
    if not case.areas.filter(is_current=True).exists():
        with transaction.atomic():
            # The case lock makes a concurrent dispatch wait, then find the area made.
            locked = Case.objects.select_for_update().get(pk=case_id)
            if not locked.areas.filter(is_current=True).exists():
                if not point_in_city(case):
                    alert_raise(
                        case=case,
                        kind=AlertKind.OUTSIDE_JURISDICTION,
                        message="The last-seen point lies outside every jurisdiction: "
                        "no unit is offered sectors; ask a partner or draw an area.",
                    )
                area_compute(case=locked, reason=AreaReason.INITIAL, origin=Origin.system())
    return offers_make(case=case)


def point_in_city(case: Case) -> bool:
    return Organisation.objects.filter(
        pk__in=organisation_family_ids(case.organisation),
        jurisdiction__contains=Point(case.last_seen_point.x, case.last_seen_point.y, srid=SRID),
    ).exists()


def alert_raise(*, case: Case, kind: str, message: str, task: Task | None = None) -> Alert:
    """Tell the case's coordinators something needs them."""
    return Alert.objects.create(case=case, kind=kind, message=message, task=task)


# --- Supervision (beat) -------------------------------------------------------------------------


@transaction.atomic
def offers_expire(*, now: datetime | None = None) -> list[int]:
    """Expire unanswered offers, tell the coordinator, and return the cases to re-dispatch."""
    now = now or timezone.now()
    expired = list(
        Task.objects.select_for_update(skip_locked=True)
        .filter(status=TaskStatus.OFFERED, expires_at__lte=now)
        .select_related("unit", "sector")
    )
    if not expired:
        return []
    Task.objects.filter(pk__in=[t.pk for t in expired]).update(
        status=TaskStatus.EXPIRED, answered_at=now, last_activity_at=now
    )
    Sector.objects.filter(
        pk__in=[t.sector_id for t in expired], status=SectorStatus.OFFERED
    ).update(status=SectorStatus.UNASSIGNED)
    cases = Case.objects.in_bulk({t.case_id for t in expired})
    for task in expired:
        alert_raise(
            case=cases[task.case_id],
            kind=AlertKind.OFFER_EXPIRED,
            task=task,
            message=f"{task.unit.name} did not answer the offer of sector {task.sector.h3_index}; "
            "offering it to the next unit.",
        )
    for case in cases.values():
        event_record(
            case=case,
            kind=EventKind.TASK_CHANGED,
            origin=Origin.system(),
            data={"expired": sum(1 for t in expired if t.case_id == case.pk)},
        )
    return list(cases)


@transaction.atomic
def tasks_flag_stale(*, now: datetime | None = None) -> int:
    """Flag accepted or in-progress tasks with no activity for too long, once each."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=conf("STALE_TASK_SECONDS"))
    stale = list(
        Task.objects.filter(
            status__in=(TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS),
            last_activity_at__lt=limit,
            stale_flagged_at__isnull=True,
        ).select_related("case", "unit")
    )
    for task in stale:
        alert_raise(
            case=task.case,
            kind=AlertKind.TASK_STALE,
            task=task,
            message=f"No activity from {task.unit.name} since "
            f"{timezone.localtime(task.last_activity_at):%H:%M}.",
        )
    Task.objects.filter(pk__in=[t.pk for t in stale]).update(stale_flagged_at=now)
    return len(stale)


def area_grow(*, case: Case, now: datetime | None = None) -> SearchArea | None:
    """Grow the case's area with elapsed time when the reach has grown enough; else None."""
    now = now or timezone.now()
    current = case.areas.filter(is_current=True).first()
    if current is None or not case.is_open or case.search_paused:
        return None
    if current.reason == AreaReason.MANUAL:
        return None  # a drawn area stands until a coordinator or a sighting replaces it
    plan = area_plan(case=case, centred_at=current.centred_at, now=now)
    if plan is None:
        return None
    old, new = current.radii_m[-1], plan.radii_m[-1]
    if new < old * (1 + conf("GROWTH_MIN_INCREASE")):
        return None
    return area_compute(case=case, reason=AreaReason.TIME_GROWTH, origin=Origin.system(), now=now)


def cases_waiting_for_offers() -> list[int]:
    """Return open, unpaused cases with sectors waiting in the queue or with no area yet."""
    waiting = Sector.objects.filter(
        in_current_area=True, outside_jurisdiction=False, status__in=WAITING_SECTOR_STATUSES
    )
    return list(
        Case.objects.open()
        .filter(search_paused=False)
        .filter(Q(sectors__in=waiting) | Q(areas__isnull=True))
        .values_list("pk", flat=True)
        .distinct()
    )


# --- Coordinator actions ------------------------------------------------------------------------


def _require_coordinator(origin: Origin) -> None:
    from django.core.exceptions import PermissionDenied

    from search import permissions

    if origin.actor is not None and not permissions.can_override_priority(origin.actor):
        raise PermissionDenied(gettext("Only coordinators steer the search."))


def _queue_dispatch(case_id: int) -> None:
    queue_on_commit(queue.DISPATCH, case_id)


@transaction.atomic
def sighting_confirm(*, origin: Origin, sighting) -> SearchArea | None:
    """Confirm a sighting and re-centre the search on it; tasks left outside are cancelled."""
    from search.models import Sighting

    _require_coordinator(origin)
    now = timezone.now()
    updated = Sighting.objects.filter(pk=sighting.pk, confirmed_at__isnull=True).update(
        confidence="confirmed", confirmed_at=now
    )
    if not updated:
        return None  # confirmed already: the area was re-centred then
    sighting.refresh_from_db()
    event_record(
        case=sighting.case,
        kind=EventKind.SIGHTING_CONFIRMED,
        origin=origin,
        data={
            "sighting": sighting.pk,
            "at": [round(sighting.point.x, 6), round(sighting.point.y, 6)],
        },
    )
    area = area_compute(
        case=sighting.case,
        reason=AreaReason.SIGHTING,
        origin=origin,
        centre=Point(sighting.point.x, sighting.point.y, srid=SRID),
        centred_at=sighting.seen_at,
        now=now,
        note=f"Confirmed sighting #{sighting.pk}",
    )
    _queue_dispatch(sighting.case_id)
    return area


@transaction.atomic
def search_pause(*, origin: Origin, case: Case, paused: bool, reason: str = "") -> Case:
    """Pause (no new offers; open tasks stand) or resume the search."""
    _require_coordinator(origin)
    Case.objects.filter(pk=case.pk).update(search_paused=paused)
    case.refresh_from_db()
    event_record(
        case=case,
        kind=EventKind.SEARCH_PAUSED,
        origin=origin,
        data={"paused": paused, "reason": reason.strip()},
    )
    if not paused:
        _queue_dispatch(case.pk)
    return case


@transaction.atomic
def sector_reassign(*, origin: Origin, sector: Sector, unit) -> Task:
    """Take the sector from whoever has it and offer it to the unit the coordinator chose."""
    from django.core.exceptions import ValidationError

    _require_coordinator(origin)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OFFERS_LOCK_KEY])
    if unit.organisation_id not in organisation_family_ids(sector.case.organisation):
        raise ValidationError(gettext("This unit belongs to another city."))
    if Task.objects.filter(sector=sector, unit=unit).open().exists():
        raise ValidationError(gettext("This unit already has this sector."))
    tasks_cancel(
        tasks=Task.objects.filter(sector=sector),
        reason=f"Reassigned to {unit.name} by a coordinator",
        now=now,
    )
    fresh = {
        "status": TaskStatus.OFFERED,
        "rank": Task.objects.filter(sector=sector).count() + 1,
        "offered_at": now,
        "expires_at": now + timedelta(seconds=conf("OFFER_TIMEOUT_SECONDS")),
        "last_activity_at": now,
        "answered_at": None,
        "started_at": None,
        "finished_at": None,
    }
    # A unit that had the sector before (declined, expired) may be chosen again on purpose: its
    # task row is offered anew; the timeline keeps what happened before.
    task, _ = Task.objects.update_or_create(
        sector=sector, unit=unit, defaults=fresh, create_defaults={**fresh, "case": sector.case}
    )
    Sector.objects.filter(pk=sector.pk).update(status=SectorStatus.OFFERED)
    event_record(
        case=sector.case,
        kind=EventKind.TASK_CHANGED,
        origin=origin,
        data={"reassigned": sector.h3_index, "unit": unit.name, "task": task.pk},
    )
    queue_on_commit(queue.OFFERS_NOTIFY, [task.pk])
    return task


MANUAL_AREA_MAX_KM2 = 500


@transaction.atomic
def area_draw(*, origin: Origin, case: Case, polygon, note: str = "") -> SearchArea:
    """Make the coordinator's drawn polygon the new search area, weighted evenly."""
    import h3
    from django.core.exceptions import ValidationError

    _require_coordinator(origin)
    if polygon.geom_type != "Polygon" or not polygon.valid:
        raise ValidationError(
            {"area": gettext("Draw one closed polygon whose edges do not cross.")}
        )
    polygon.srid = SRID
    area_km2 = polygon.transform(3857, clone=True).area / 1e6  # rough, enough for a limit
    if area_km2 > MANUAL_AREA_MAX_KM2:
        raise ValidationError(
            {
                "area": gettext("The drawn area is larger than %(max)s km².")
                % {"max": MANUAL_AREA_MAX_KM2}
            }
        )
    now = timezone.now()
    case = Case.objects.select_for_update().get(pk=case.pk)
    previous = case.areas.filter(is_current=True).first()
    resolution = previous.resolution if previous else 9
    shape = h3.LatLngPoly([(lat, lon) for lon, lat in polygon.exterior_ring.coords[:-1]])
    cells = list(h3.h3shape_to_cells(shape, resolution))
    if not cells:
        cells = [h3.latlng_to_cell(polygon.centroid.y, polygon.centroid.x, resolution)]
    from search.geo import Cell

    weight = 1 / len(cells)
    planned = [Cell(c, *h3.cell_to_latlng(c), ring=1, weight=weight) for c in cells]
    if previous:
        SearchArea.objects.filter(pk=previous.pk).update(is_current=False)
    centre = polygon.centroid
    area = SearchArea.objects.create(
        case=case,
        version=(previous.version + 1) if previous else 1,
        previous=previous,
        reason=AreaReason.MANUAL,
        centre=Point(centre.x, centre.y, srid=SRID),
        centred_at=previous.centred_at if previous else case.last_seen_at,
        computed_at=now,
        radii_m=[],
        cap_m=0,
        resolution=resolution,
        profile=None,
        boundary=polygon,
        note=note,
    )
    added, retired, cancelled = _sectors_sync(case=case, area=area, cells=planned, now=now)
    event_record(
        case=case,
        kind=EventKind.AREA_COMPUTED,
        origin=origin,
        data={
            "version": area.version,
            "reason": AreaReason.MANUAL,
            "sectors": len(planned),
            "added": added,
            "retired": retired,
            "tasks_cancelled": cancelled,
        },
    )
    _queue_dispatch(case.pk)
    return area
