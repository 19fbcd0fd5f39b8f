"""Offers: matching waiting sectors to units, expiry, cancellation, staleness, reassignment.

Every offer-making transaction takes one advisory lock, so the per-unit cap holds across cases;
the waiting queue is the set of sectors in the current area that no open task covers.
"""

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Case as Case_
from django.db.models import Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Unit
from accounts.selectors import UNIT_CAN_TAKE_SQL, organisation_family_ids
from search import permissions
from search.choices import (
    WAITING_SECTOR_STATUSES,
    AlertKind,
    CaseStatus,
    EventKind,
    SectorStatus,
    TaskStatus,
)
from search.models import Case, Sector, Task
from search.models.tasks import OPEN_TASK_STATUSES
from search.selectors import waiting_sectors
from search.services import policy, queue
from search.services.aid import outbound
from search.services.alerts import AlertDraft, alert_raise, alerts_raise
from search.services.queue import queue_on_commit
from search.services.task_versions import units_changed
from search.services.timeline import EventDraft, Origin, event_record, events_record

log = logging.getLogger(__name__)

# One lock for every offer-making transaction: the per-unit cap then holds across cases.
OFFERS_LOCK_KEY = 0x6265_6163  # "beac"


def conf(name: str) -> Any:
    return settings.DISPATCH[name]


def require_steering(origin: Origin) -> None:
    """Refuse anyone but a coordinator (the system itself may always steer)."""
    if origin.actor is not None and not permissions.can_override_priority(origin.actor):
        raise PermissionDenied(gettext("Only coordinators steer the search."))


def _offers_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OFFERS_LOCK_KEY])


def tasks_cancel(*, tasks: QuerySet[Task], reason: str, now: datetime) -> int:
    """Cancel open tasks, free their sectors, and say why on each case's timeline.

    A fixed number of queries however many cases the tasks belong to.
    """
    cancelled = list(
        tasks.filter(status__in=OPEN_TASK_STATUSES).values_list(
            "pk", "case_id", "sector_id", "unit_id"
        )
    )
    if not cancelled:
        return 0
    Task.objects.filter(pk__in=[pk for pk, _, _, _ in cancelled]).update(
        status=TaskStatus.CANCELLED, note=reason[:2000], finished_at=now, last_activity_at=now
    )
    units_changed(unit_ids=[unit for _, _, _, unit in cancelled])
    Sector.objects.filter(pk__in=[s for _, _, s, _ in cancelled]).exclude(
        status=SectorStatus.SEARCHED
    ).update(status=FREED_STATUS)
    per_case = Counter(case_id for _, case_id, _, _ in cancelled)
    alerts_raise(
        drafts=[
            AlertDraft(
                case_id=case_id, kind=AlertKind.TASKS_CANCELLED, message=f"{n} task(s): {reason}"
            )
            for case_id, n in per_case.items()
        ]
    )
    events_record(
        drafts=[
            EventDraft(case_id, EventKind.TASK_CHANGED, {"cancelled": n, "reason": reason})
            for case_id, n in per_case.items()
        ],
        origin=Origin.system(),
    )
    return len(cancelled)


# The offer queue of one case (and, for pos_rate, searched sectors that may be searched again),
# with each sector's current probability p: its prior lowered by Bayes, weight x (1 - coverage).
WAITING_CTE = """WITH waiting AS MATERIALIZED (
    SELECT s.id, s.centroid, s.weight, s.coverage, s.ring, s.h3_index, s.status,
           s.required_capability, s.weight * (1 - s.coverage) AS p
    FROM search_sector s
    WHERE s.case_id = %(case)s
      AND s.in_current_area AND NOT s.outside_jurisdiction
      AND (s.status = ANY(%(waiting)s)
           OR (s.status = %(searched)s AND s.coverage < %(research_below)s))
      AND NOT EXISTS (SELECT 1 FROM search_task t
                      WHERE t.sector_id = s.id AND t.status = ANY(%(open)s))
)"""

# Units that could take an offer now: available, of the city, under their cap of open tasks, with
# a home area at or near the case's current area (the near ones only matter to pos_rate).
FREE_UNITS_SQL = """
SELECT u.id, u.kind, coalesce(l.n, 0) AS load
FROM accounts_unit u
LEFT JOIN LATERAL (SELECT count(*) AS n FROM search_task t
                   WHERE t.unit_id = u.id AND t.status = ANY(%(open)s)) l ON TRUE
WHERE u.availability = %(available)s
  AND u.organisation_id = ANY(%(family)s)
  AND coalesce(l.n, 0) < %(cap)s
  AND EXISTS (SELECT 1 FROM search_searcharea a
              WHERE a.case_id = %(case)s AND a.is_current
                AND ST_DWithin(u.home_area, a.boundary, %(near_deg)s))
ORDER BY u.id
"""  # noqa: S608 - constants only

# For each free unit, the waiting sectors it could take: the most probable of its home area and,
# for pos_rate, the nearest ones, and high-probability sectors just outside it. The free units
# are few once a search runs, so this reads a few rows per unit, not one per sector and unit.
# The unit side of "could take" is the rule in accounts.selectors (UNIT_CAN_TAKE_SQL).
CANDIDATES_SQL = f"""
{WAITING_CTE}
SELECT c.id, u.id, ST_Distance(u.last_position, c.centroid::geography, false), c.home,
       c.weight, c.coverage, c.ring, c.h3_index, u.kind, c.status,
       (SELECT sum(a.weight * (1 - a.coverage)) FROM search_sector a
        WHERE a.case_id = %(case)s AND a.in_current_area) AS total
FROM accounts_unit u
CROSS JOIN LATERAL (
    (SELECT w.*, TRUE AS home FROM waiting w
     WHERE {UNIT_CAN_TAKE_SQL.format(unit="u", point="w.centroid")}
       AND (w.required_capability = '' OR w.required_capability = ANY(u.capabilities))
       AND NOT EXISTS (SELECT 1 FROM search_task t WHERE t.sector_id = w.id AND t.unit_id = u.id)
     ORDER BY w.p DESC, w.id
     LIMIT %(per_unit)s)
    UNION
    (SELECT w.*, TRUE FROM waiting w
     WHERE %(nearest_too)s AND {UNIT_CAN_TAKE_SQL.format(unit="u", point="w.centroid")}
       AND (w.required_capability = '' OR w.required_capability = ANY(u.capabilities))
       AND NOT EXISTS (SELECT 1 FROM search_task t WHERE t.sector_id = w.id AND t.unit_id = u.id)
     ORDER BY u.last_position::geometry <-> w.centroid, w.id
     LIMIT %(per_unit)s)
    UNION
    (SELECT w.*, FALSE FROM waiting w
     WHERE %(outside_m)s > 0 AND w.ring <= %(outside_ring)s
       AND NOT ST_Contains(u.home_area, w.centroid)
       AND ST_DWithin(u.home_area, w.centroid, %(outside_deg)s)
       AND ST_DWithin(u.home_area::geography, w.centroid::geography, %(outside_m)s, false)
       AND (w.required_capability = '' OR w.required_capability = ANY(u.capabilities))
       AND NOT EXISTS (SELECT 1 FROM search_task t WHERE t.sector_id = w.id AND t.unit_id = u.id)
     ORDER BY w.p DESC, w.id
     LIMIT %(per_unit)s)
) c
WHERE u.id = ANY(%(units)s)
ORDER BY c.weight DESC, c.id, c.home DESC, 3 ASC NULLS LAST, u.id
"""  # noqa: S608 - the fragment is a constant, not input

# The same pairs the other way round, for when the free units are many and the sectors few (a
# new case in a busy city): for each waiting sector, its nearest free units.
SECTOR_CANDIDATES_SQL = f"""
{WAITING_CTE}
SELECT w.id, c.unit_id, c.distance, c.home, w.weight, w.coverage, w.ring, w.h3_index, c.kind,
       w.status,
       (SELECT sum(a.weight * (1 - a.coverage)) FROM search_sector a
        WHERE a.case_id = %(case)s AND a.in_current_area) AS total
FROM waiting w
CROSS JOIN LATERAL (
    (SELECT u.id AS unit_id, u.kind,
            ST_Distance(u.last_position, w.centroid::geography, false) AS distance, TRUE AS home
     FROM accounts_unit u
     WHERE {UNIT_CAN_TAKE_SQL.format(unit="u", point="w.centroid")}
       -- "+ 0": filter on the free units' ids, but find units through the home-area index
       -- (by the primary key, every sector would test every free unit's area).
       AND u.id + 0 = ANY(%(units)s)
       AND (w.required_capability = '' OR w.required_capability = ANY(u.capabilities))
       AND NOT EXISTS (SELECT 1 FROM search_task t WHERE t.sector_id = w.id AND t.unit_id = u.id)
     ORDER BY distance ASC NULLS LAST, u.id
     LIMIT %(per_sector)s)
    UNION ALL
    (SELECT u.id, u.kind, ST_Distance(u.last_position, w.centroid::geography, false), FALSE
     FROM accounts_unit u
     WHERE %(outside_m)s > 0 AND w.ring <= %(outside_ring)s
       AND u.id + 0 = ANY(%(units)s)
       AND ST_DWithin(u.home_area, w.centroid, %(outside_deg)s)
       AND NOT ST_Contains(u.home_area, w.centroid)
       AND ST_DWithin(u.home_area::geography, w.centroid::geography, %(outside_m)s, false)
       AND (w.required_capability = '' OR w.required_capability = ANY(u.capabilities))
       AND NOT EXISTS (SELECT 1 FROM search_task t WHERE t.sector_id = w.id AND t.unit_id = u.id)
     ORDER BY 3 ASC NULLS LAST, u.id
     LIMIT %(per_sector)s)
) c
ORDER BY w.weight DESC, w.id, c.home DESC, c.distance ASC NULLS LAST, c.unit_id
"""  # noqa: S608 - the fragment is a constant, not input

# Waiting sectors that no available unit of the city covers at all: the coordinator must act.
UNCOVERED_SQL = f"""
SELECT count(*) FROM search_sector s
WHERE s.case_id = %(case)s AND s.in_current_area AND NOT s.outside_jurisdiction
  AND s.status = ANY(%(waiting)s)
  AND NOT EXISTS (SELECT 1 FROM search_task t
                  WHERE t.sector_id = s.id AND t.status = ANY(%(open)s))
  AND NOT EXISTS (
      SELECT 1 FROM accounts_unit u
      WHERE {UNIT_CAN_TAKE_SQL.format(unit="u", point="s.centroid")}
        AND u.organisation_id = ANY(%(family)s)
        AND (s.required_capability = '' OR s.required_capability = ANY(u.capabilities)))
"""  # noqa: S608 - constants only

INSERT_TASKS_SQL = """
WITH made AS (
    INSERT INTO search_task (case_id, sector_id, unit_id, status, rank, distance_m, offered_at,
                             expires_at, last_activity_at, note, basis)
    SELECT %(case)s, v.sector_id, v.unit_id, 'offered',
           (SELECT count(*) FROM search_task t WHERE t.sector_id = v.sector_id) + 1,
           v.distance, %(now)s, %(expires)s, %(now)s, '', v.basis
    FROM unnest(%(sectors)s::bigint[], %(units)s::bigint[], %(distances)s::float8[],
                %(bases)s::jsonb[]) AS v(sector_id, unit_id, distance, basis)
    ON CONFLICT DO NOTHING
    RETURNING id, sector_id, unit_id
), marked AS (
    UPDATE search_sector s SET status = 'offered' FROM made WHERE s.id = made.sector_id
)
SELECT id, sector_id, unit_id FROM made
"""

# A sector freed by an expired, declined or cancelled offer waits again: for research if it
# was searched before (its coverage is kept), else as new ground.
FREED_STATUS = Case_(
    When(coverage__gt=0, then=Value(SectorStatus.NEEDS_RESEARCH)),
    default=Value(SectorStatus.UNASSIGNED),
)


@dataclass
class OfferResult:
    offered: list[int]  # task ids
    waiting: int  # sectors left in the queue (no unit free)
    unreachable: int  # sectors no unit could ever take (none covers them)


def _params(case: Case, policy_name: str) -> dict[str, Any]:
    pos_rate = policy_name == policy.POS_RATE
    outside_m = conf("OUTSIDE_HOME_MAX_M") if pos_rate else 0
    # Metres as degrees for the index's pre-filter, wide enough east-west at this latitude; an
    # exact test in metres follows where it matters.
    per_degree = 111_320 * max(math.cos(math.radians(case.last_seen_point.y)), 0.1)
    return {
        "available": Unit.Availability.AVAILABLE,
        "family": organisation_family_ids(case.organisation),
        "case": case.pk,
        "cap": conf("MAX_OPEN_TASKS_PER_UNIT"),
        "waiting": list(WAITING_SECTOR_STATUSES),
        "searched": SectorStatus.SEARCHED,
        # Below -1: nothing is searched again.
        "research_below": conf("RESEARCH_BELOW_POD") if pos_rate else -1.0,
        "open": list(OPEN_TASK_STATUSES),
        "nearest_too": pos_rate,
        "outside_m": outside_m,
        "outside_ring": conf("OUTSIDE_HOME_MAX_RING"),
        "outside_deg": outside_m / per_degree,
        "near_deg": outside_m / per_degree,
    }


def _candidates(
    *, params: dict[str, Any], free: list[tuple[int, str, int]], waiting: int
) -> list[policy.Pair]:
    # Each unit needs no more sectors than all the free units together can take: the greedy
    # cannot give it one further down its list (a sector passed over had no free unit left).
    slots = sum(params["cap"] - load for _, _, load in free)
    per_unit = min(slots, conf("CANDIDATES_PER_UNIT"))
    per_sector = conf("CANDIDATES_PER_SECTOR")
    # Whichever way round reads fewer rows.
    by_unit = len(free) * per_unit * (2 if params["nearest_too"] else 1) <= waiting * per_sector
    with connection.cursor() as cursor:
        cursor.execute(
            CANDIDATES_SQL if by_unit else SECTOR_CANDIDATES_SQL,
            {
                **params,
                "units": [unit for unit, _, _ in free],
                "per_unit": per_unit,
                "per_sector": per_sector,
            },
        )
        rows = cursor.fetchall()
    return [
        policy.Pair(
            sector=row[0],
            unit=row[1],
            distance=row[2],
            home=row[3],
            weight=row[4],
            coverage=row[5],
            ring=row[6],
            h3_index=row[7],
            kind=row[8],
            fresh=row[9] != SectorStatus.SEARCHED,
            total=row[10] or 0.0,
        )
        for row in rows
    ]


def _uncovered_check_due(case: Case) -> bool:
    """Whether to count the sectors no unit covers (for the coordinator's alert): not while
    that alert is open, and once a minute per case at most, since it reads every sector."""
    key = f"offers:uncovered-checked:{case.pk}"
    try:
        if not cache.add(key, 1, timeout=conf("UNCOVERED_CHECK_SECONDS")):
            return False
    except Exception:  # noqa: BLE001 - without the cache, check every time
        log.warning("cache unavailable: checking uncovered sectors every time")
    return not case.alerts.filter(kind=AlertKind.NO_UNITS, acknowledged_at__isnull=True).exists()


@transaction.atomic
def offers_make(*, case: Case, now: datetime | None = None) -> OfferResult:
    """Offer the waiting sectors of a case to units, as the dispatch policy ranks them."""
    now = now or timezone.now()
    _offers_lock()
    case = Case.objects.select_related("organisation").get(pk=case.pk)
    if not case.is_open or case.search_paused:
        return OfferResult([], 0, 0)
    policy_name = conf("POLICY")
    params = _params(case, policy_name)
    with connection.cursor() as cursor:
        cursor.execute(FREE_UNITS_SQL, params)
        free = cursor.fetchall()
    waiting = waiting_sectors().filter(case=case).count()
    pairs = _candidates(params=params, free=free, waiting=waiting) if free else []
    picks = policy.choose(
        policy=policy_name,
        pairs=pairs,
        load={unit: load for unit, _, load in free},
        cap=params["cap"],
        total_probability=pairs[0].total if pairs else 0.0,
        seed=f"{case.pk}:{now.isoformat()}",
    )
    offered: list[int] = []
    if picks:
        sectors = list(picks)
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_TASKS_SQL,
                {
                    "case": case.pk,
                    "now": now,
                    "expires": now + timedelta(seconds=conf("OFFER_TIMEOUT_SECONDS")),
                    "sectors": sectors,
                    "units": [picks[s].unit for s in sectors],
                    "distances": [picks[s].distance for s in sectors],
                    "bases": [json.dumps(picks[s].basis) for s in sectors],
                },
            )
            created = cursor.fetchall()
        offered = [task_id for task_id, _, _ in created]
        units_changed(unit_ids=[unit_id for _, _, unit_id in created])
        # The queue less what was just offered from it (a searched sector was not in it).
        fresh = {p.sector for p in pairs if p.fresh}
        waiting -= len({sector for _, sector, _ in created} & fresh)
    unreachable = 0
    if waiting and _uncovered_check_due(case):
        with connection.cursor() as cursor:
            cursor.execute(UNCOVERED_SQL, params)
            unreachable = cursor.fetchone()[0]
    if offered:
        if case.status == CaseStatus.OPEN:
            Case.objects.filter(pk=case.pk, status=CaseStatus.OPEN).update(status=CaseStatus.ACTIVE)
        outbound.assisting_case_activated(case_id=case.pk)
        event_record(
            case=case,
            kind=EventKind.OFFERS_MADE,
            origin=Origin.system(),
            data={"offers": len(offered), "waiting": waiting, "policy": policy_name},
        )
        queue_on_commit(queue.OFFERS_NOTIFY, offered)
    if unreachable:
        alert_raise(
            case=case,
            kind=AlertKind.NO_UNITS,
            message=f"{unreachable} sector(s) have no available unit whose area covers them.",
            once_while_open=True,
        )
    return OfferResult(offered=offered, waiting=waiting, unreachable=unreachable)


# --- Supervision (beat) -------------------------------------------------------------------------


@transaction.atomic
def offers_expire(*, now: datetime | None = None) -> list[int]:
    """Expire unanswered offers, tell the coordinator, and return the cases to re-dispatch."""
    now = now or timezone.now()
    expired = list(
        Task.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=TaskStatus.OFFERED, expires_at__lte=now)
        .select_related("unit", "sector")
    )
    if not expired:
        return []
    Task.objects.filter(pk__in=[t.pk for t in expired]).update(
        status=TaskStatus.EXPIRED, answered_at=now, last_activity_at=now
    )
    units_changed(unit_ids=[task.unit_id for task in expired])
    Sector.objects.filter(
        pk__in=[t.sector_id for t in expired], status=SectorStatus.OFFERED
    ).update(status=FREED_STATUS)
    alerts_raise(
        drafts=[
            AlertDraft(
                case_id=task.case_id,
                kind=AlertKind.OFFER_EXPIRED,
                task_id=task.pk,
                message=f"{task.unit.name} did not answer the offer of sector "
                f"{task.sector.h3_index}; offering it to the next unit.",
            )
            for task in expired
        ]
    )
    per_case = Counter(task.case_id for task in expired)
    events_record(
        drafts=[
            EventDraft(case_id, EventKind.TASK_CHANGED, {"expired": n})
            for case_id, n in per_case.items()
        ],
        origin=Origin.system(),
    )
    return list(per_case)


@transaction.atomic
def tasks_flag_stale(*, now: datetime | None = None) -> int:
    """Flag accepted or in-progress tasks with no activity for too long, once each."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=conf("STALE_TASK_SECONDS"))
    stale = list(
        Task.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            status__in=(TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS),
            last_activity_at__lt=limit,
            stale_flagged_at__isnull=True,
        )
        .select_related("unit")
    )
    alerts_raise(
        drafts=[
            AlertDraft(
                case_id=task.case_id,
                kind=AlertKind.TASK_STALE,
                task_id=task.pk,
                message=f"No activity from {task.unit.name} since "
                f"{timezone.localtime(task.last_activity_at):%H:%M}.",
            )
            for task in stale
        ]
    )
    Task.objects.filter(pk__in=[t.pk for t in stale]).update(stale_flagged_at=now)
    # Not in the list a unit polls, but a change to its rows all the same: one rare extra 200.
    units_changed(unit_ids=[task.unit_id for task in stale])
    return len(stale)


def cases_waiting_for_offers() -> list[int]:
    """Return open, unpaused cases with sectors waiting in the queue or with no area yet."""
    return list(
        Case.objects.open()
        .filter(search_paused=False)
        .filter(Q(sectors__in=waiting_sectors()) | Q(areas__isnull=True))
        .values_list("pk", flat=True)
        .distinct()
    )


# --- Coordinator actions ------------------------------------------------------------------------


@transaction.atomic
def search_pause(*, origin: Origin, case: Case, paused: bool, reason: str = "") -> Case:
    """Pause (no new offers; open tasks stand) or resume the search."""
    require_steering(origin)
    Case.objects.filter(pk=case.pk).update(search_paused=paused)
    case.refresh_from_db()
    event_record(
        case=case,
        kind=EventKind.SEARCH_PAUSED,
        origin=origin,
        data={"paused": paused, "reason": reason.strip()},
    )
    if not paused:
        queue_on_commit(queue.DISPATCH, case.pk)
    return case


@transaction.atomic
def sector_reassign(*, origin: Origin, sector: Sector, unit: Unit) -> Task:
    """Take the sector from whoever has it and offer it to the unit the coordinator chose."""
    require_steering(origin)
    now = timezone.now()
    _offers_lock()
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
    units_changed(unit_ids=[task.unit_id])
    Sector.objects.filter(pk=sector.pk).update(status=SectorStatus.OFFERED)
    event_record(
        case=sector.case,
        kind=EventKind.TASK_CHANGED,
        origin=origin,
        data={"reassigned": sector.h3_index, "unit": unit.name, "task": task.pk},
    )
    queue_on_commit(queue.OFFERS_NOTIFY, [task.pk])
    return task
