"""Search areas: versions of the rings around the last-seen point, their H3 sectors, growth with
elapsed time, areas drawn by a coordinator, re-centring on a confirmed sighting, and dispatch.

Dispatch runs in two transactions. The first computes the search area and its sectors (once per
case, or when the area changes); the second (offers.offers_make) matches sectors that still wait
to units. A worker killed between or inside them leaves the database consistent, and running
dispatch again finishes the job: nothing is created twice (constraints on Task, and a lock).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h3
from django.conf import settings
from django.contrib.gis.geos import Point, Polygon
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.selectors import organisation_family_ids, point_in_city
from search.choices import AlertKind, AreaReason, EventKind
from search.geo import SRID, Cell, cell_wkt, cells_in_rings, choose_resolution, circle
from search.models import Case, SearchArea, Sector, Sighting, SubjectProfile, Task
from search.services import queue
from search.services.aid import outbound
from search.services.alerts import alert_raise
from search.services.offers import OfferResult, offers_make, require_steering, tasks_cancel
from search.services.queue import queue_on_commit
from search.services.task_versions import units_changed
from search.services.timeline import Origin, event_record

# Sectors written per INSERT when an area is cut.
SECTOR_BATCH_SIZE = 1000
MANUAL_AREA_MAX_KM2 = 500


def conf(name: str) -> Any:
    return settings.DISPATCH[name]


@dataclass(frozen=True)
class AreaPlan:
    profile: SubjectProfile
    radii_m: list[float]
    cap_m: float


def _plan(profile: SubjectProfile, *, centred_at: datetime, now: datetime) -> AreaPlan:
    hours = max((now - centred_at).total_seconds(), 0) / 3600
    cap = max(profile.speed_kmh * 1000 * hours, conf("MIN_REACH_M"))
    radii = [float(min(d, cap)) for d in profile.distances]
    return AreaPlan(profile=profile, radii_m=radii, cap_m=cap)


def area_plan(*, case: Case, centred_at: datetime, now: datetime) -> AreaPlan | None:
    """Return the rings for this case at this time, or None if no profile fits it."""
    profile = SubjectProfile.objects.filter(category=case.category, terrain=case.terrain).first()
    if profile is None:
        return None
    return _plan(profile, centred_at=centred_at, now=now)


def _new_version(
    *,
    case: Case,
    previous: SearchArea | None,
    cells: list[Cell],
    now: datetime,
    origin: Origin,
    **fields: Any,
) -> SearchArea:
    """Write the next area version in place of the current one, sync its sectors, record it."""
    if previous:
        SearchArea.objects.filter(pk=previous.pk).update(is_current=False)
    area = SearchArea.objects.create(
        case=case,
        version=(previous.version + 1) if previous else 1,
        previous=previous,
        computed_at=now,
        **fields,
    )
    added, retired, cancelled = _sectors_sync(case=case, area=area, cells=cells, now=now)
    event_record(
        case=case,
        kind=EventKind.AREA_COMPUTED,
        origin=origin,
        data={
            "version": area.version,
            "reason": area.reason,
            # A drawn area has no rings.
            **({"radii_m": area.radii_m} if area.radii_m else {}),
            "sectors": len(cells),
            "added": added,
            "retired": retired,
            "tasks_cancelled": cancelled,
        },
    )
    return area


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
    case = Case.objects.select_for_update().select_related("organisation").get(pk=case.pk)
    previous = case.areas.filter(is_current=True).first()
    if centre is None or centred_at is None:
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
    area = _new_version(
        case=case,
        previous=previous,
        cells=cells,
        now=now,
        origin=origin,
        reason=reason,
        centre=Point(lon, lat, srid=SRID),
        centred_at=centred_at,
        radii_m=[round(r) for r in plan.radii_m],
        cap_m=round(plan.cap_m),
        resolution=resolution,
        profile=plan.profile,
        boundary=circle(lat=lat, lon=lon, radius_m=max(plan.radii_m[-1], 1)),
        note=note,
    )
    if not case.aid_requests.filter(direction="inbound").exists():
        # The search reaches a neighbour's ground: propose (or send) a request for aid. An
        # assisting case does not ask the city it is helping.
        outbound.aid_propose(case=case)
    return area


def _sectors_sync(
    *, case: Case, area: SearchArea, cells: list[Cell], now: datetime
) -> tuple[int, int, int]:
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
        # A unit's list shows its sectors' weights: those with open tasks here see new ones.
        units_changed(
            unit_ids=Task.objects.open().filter(case=case).values_list("unit_id", flat=True)
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


def dispatch_case(*, case_id: int, now: datetime | None = None) -> OfferResult | None:
    """Make sure the case has a search area, then offer what waits. Safe to run any number of
    times, concurrently or after a crash."""
    now = now or timezone.now()
    case = Case.objects.select_related("organisation").filter(pk=case_id).first()
    if case is None or not case.is_open:
        return None
    if not case.areas.filter(is_current=True).exists():
        with transaction.atomic():
            # The case lock makes a concurrent dispatch wait, then find the area made.
            locked = Case.objects.select_for_update().get(pk=case_id)
            if not locked.areas.filter(is_current=True).exists():
                point = Point(case.last_seen_point.x, case.last_seen_point.y, srid=SRID)
                if not point_in_city(organisation=case.organisation, point=point):
                    alert_raise(
                        case=case,
                        kind=AlertKind.OUTSIDE_JURISDICTION,
                        message="The last-seen point lies outside every jurisdiction: "
                        "no unit is offered sectors; ask a partner or draw an area.",
                    )
                area_compute(
                    case=locked, reason=AreaReason.INITIAL, origin=Origin.system(), now=now
                )
    return offers_make(case=case, now=now)


def _should_grow(area: SearchArea, profile: SubjectProfile | None, now: datetime) -> bool:
    if area.reason == AreaReason.MANUAL or profile is None:
        return False  # a drawn area stands until a coordinator or a sighting replaces it
    plan = _plan(profile, centred_at=area.centred_at, now=now)
    return plan.radii_m[-1] >= area.radii_m[-1] * (1 + conf("GROWTH_MIN_INCREASE"))


def areas_grow(*, now: datetime | None = None) -> list[int]:
    """Grow every open, unpaused case's area that has outgrown it; return the cases grown.

    Deciding takes a fixed number of queries however many cases are open; only the cases that
    grow pay for a new version.
    """
    now = now or timezone.now()
    current = list(
        SearchArea.objects.filter(
            is_current=True, case__in=Case.objects.open().filter(search_paused=False)
        ).select_related("case")
    )
    profiles = {(p.category, p.terrain): p for p in SubjectProfile.objects.all()}
    grown = []
    for area in current:
        case = area.case
        if not _should_grow(area, profiles.get((case.category, case.terrain)), now):
            continue
        if area_compute(case=case, reason=AreaReason.TIME_GROWTH, origin=Origin.system(), now=now):
            grown.append(case.pk)
    return grown


# --- Coordinator actions ------------------------------------------------------------------------


@transaction.atomic
def sighting_confirm(
    *, origin: Origin, sighting: Sighting, now: datetime | None = None
) -> SearchArea | None:
    """Confirm a sighting and re-centre the search on it; tasks left outside are cancelled."""
    require_steering(origin)
    now = now or timezone.now()
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
    queue_on_commit(queue.DISPATCH, sighting.case_id)
    return area


@transaction.atomic
def area_draw(*, origin: Origin, case: Case, polygon: Polygon, note: str = "") -> SearchArea:
    """Make the coordinator's drawn polygon the new search area, weighted evenly."""
    require_steering(origin)
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
    case = Case.objects.select_for_update().select_related("organisation").get(pk=case.pk)
    previous = case.areas.filter(is_current=True).first()
    resolution = previous.resolution if previous else 9
    ring = list(polygon.exterior_ring.coords)[:-1]
    shape = h3.LatLngPoly([(point[1], point[0]) for point in ring])
    cells = list(h3.h3shape_to_cells(shape, resolution))
    if not cells:
        cells = [h3.latlng_to_cell(polygon.centroid.y, polygon.centroid.x, resolution)]
    weight = 1 / len(cells)
    planned = []
    for c in cells:
        lat, lon = h3.cell_to_latlng(c)
        planned.append(Cell(c, lat, lon, ring=1, weight=weight))
    centre = polygon.centroid
    area = _new_version(
        case=case,
        previous=previous,
        cells=planned,
        now=now,
        origin=origin,
        reason=AreaReason.MANUAL,
        centre=Point(centre.x, centre.y, srid=SRID),
        centred_at=previous.centred_at if previous else case.last_seen_at,
        radii_m=[],
        cap_m=0,
        resolution=resolution,
        profile=None,
        boundary=polygon,
        note=note,
    )
    queue_on_commit(queue.DISPATCH, case.pk)
    return area
