"""Search-effectiveness simulator: how fast each dispatch policy finds people.

A discrete-event simulation that drives Beacon's own services (intake, dispatch and its SQL,
expiry, growth, the field services, sightings, closure) on a database of its own, with the
simulated clock passed in as `now`. The world comes from a seed: a city of districts, units of
several kinds with home areas, positions, speeds and sweep rates, and missing persons filed over
a day, each hidden at a distance drawn from their category's profile (the SubjectProfile table,
whose rows name their sources). Units answer offers after a random delay (some never do), travel
in a straight line, search a sector in (coverage x area / sweep rate), and detect a person
inside it with probability POD = 1 - e^-coverage. Every policy sees the same world, the same
cases and the same hidden persons, so the comparison is paired.

    python -m bench.simulate --help
    make bench                      (three seeds, the four policies)

It prints the load line, then one `simulate policy=...` line per policy and seed and one per
policy over all seeds, and saves the found-over-time plot under docs/.
"""

import argparse
import contextlib
import heapq
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import common

ROOT = common.ROOT
POLICIES = ("ring", "pos_rate", "nearest", "random")
# In the past, so that every validator's "not in the future" holds for the simulated times.
SIM_START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)

# The synthetic city: about 33 x 30 km, cut into a 3 x 3 grid of districts.
CITY_CENTRE = (34.26, 117.18)  # lat, lon
CITY_HALF = (0.135, 0.18)  # degrees of latitude, longitude
DISTRICTS = 3
# Unit kinds: share of the fleet, whether their home is the whole city (K9 and drones answer
# city-wide) and the spread of each unit's actual speed and sweep rate around its kind's figure.
KIND_MIX = {"patrol": 0.5, "station": 0.2, "volunteer": 0.2, "k9": 0.05, "drone": 0.05}
CITY_WIDE = {"k9", "drone"}
AVAILABLE_SHARE = 0.85
# The mix of people reported missing, urban (Beacon's categories).
CATEGORY_MIX = {
    "dementia": 0.30,
    "young_child": 0.15,
    "child": 0.10,
    "youth": 0.10,
    "adult": 0.15,
    "autism": 0.05,
    "intellectual_disability": 0.05,
    "despondent": 0.10,
}
AGES = {
    "dementia": 78,
    "young_child": 4,
    "child": 9,
    "youth": 15,
    "adult": 35,
    "autism": 12,
    "intellectual_disability": 25,
    "despondent": 30,
}
# Reports reach the centre a while after the person was last seen (minutes: median, spread).
REPORT_DELAY_MIN = (60, 0.7)
# Offers: answered after a log-normal delay (median seconds, sigma), some never, some declined.
ANSWER_DELAY_S = (45, 0.8)
WORKER_LATENCY_S = 2
# Beat, as config/settings.py schedules it (seconds).
BEAT = {"expire": 30, "sweep": 60, "grow": 300}


@dataclass
class Config:
    seed: int = 1
    units: int = 300
    cases: int = 50
    rate: float | None = None  # cases an hour; default: the cases over one day
    horizon_h: float = 24.0
    policy: str = "ring"
    no_answer: float = 0.10
    decline: float = 0.05
    sighting_chance: float = 0.2

    @property
    def arrival_rate(self) -> float:
        return self.rate or self.cases / 24.0


@dataclass
class SimUnit:
    id: int
    n: int  # its place in the world: the key of its random draws, whatever its database id
    kind: str
    home: tuple[float, float, float, float]  # south, west, north, east
    lat: float
    lon: float
    speed_kmh: float
    sweep_km2_h: float
    coverage: float  # the coverage one pass actually reaches
    available: bool
    queue: list[int] = field(default_factory=list)
    current: int | None = None
    token: int = 0
    leg_started: float = 0.0
    busy_s: float = 0.0


@dataclass
class SimCase:
    idx: int
    filed_s: float
    category: str
    last_seen_s: float
    lkp: tuple[float, float]
    person: tuple[float, float]
    sighting_s: float | None
    case_id: int | None = None
    found_s: float | None = None
    closed: bool = False
    first_offer_s: float | None = None
    top: list[int] = field(default_factory=list)  # ring-1 sector ids of the first area
    area: tuple[float, float, float] | None = None  # centre lat, lon, outer radius (m)
    candidates: set[int] = field(default_factory=set)
    searches: dict[str, int] = field(default_factory=dict)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def offset(point: tuple[float, float], metres: float, bearing: float) -> tuple[float, float]:
    lat, lon = point
    dlat = metres * math.cos(bearing) / 111_320
    dlon = metres * math.sin(bearing) / (111_320 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def draw_distance(rng: random.Random, distances: list[int]) -> float:
    """A distance from the profile's percentiles: linear between 0/25/50/75/95 %, and the last
    5 % between the 95 % distance and twice it (beyond the area Beacon searches)."""
    knots = [(0.0, 0.0), (0.25, distances[0]), (0.5, distances[1]), (0.75, distances[2])]
    knots += [(0.95, distances[3]), (1.0, 2 * distances[3])]
    u = rng.random()
    for (q0, d0), (q1, d1) in zip(knots, knots[1:], strict=False):
        if u <= q1:
            return d0 + (d1 - d0) * (u - q0) / (q1 - q0)
    return float(knots[-1][1])


def pick(rng: random.Random, mix: dict[str, float]) -> str:
    u, total = rng.random() * sum(mix.values()), 0.0
    for key, share in mix.items():
        total += share
        if u <= total:
            return key
    return next(reversed(mix))


def detected(seed: int, case: int, cell: str, search: int, coverage: float) -> bool:
    """Whether this search (the n-th of this cell in this case) finds a person who is there:
    with probability POD = 1 - e^-coverage (Koopman), the same draw in every policy's run."""
    from search.services.policy import pod

    return stream(seed, "detect", case, cell, search).random() < pod(coverage)


def stream(*parts: Any) -> random.Random:
    """An independent random stream named by its parts: the same draw for the same thing in
    every policy's run (an answer of this unit to this sector, a search of this cell)."""
    return random.Random(":".join(str(p) for p in parts))  # noqa: S311 - a simulation


class Simulation:
    """One policy over one seeded world, in the database Django is connected to."""

    def __init__(self, config: Config):
        self.config = config
        self.heap: list[tuple[float, int, str, tuple]] = []
        self.seq = 0
        self.t = 0.0
        self.units: dict[int, SimUnit] = {}
        self.cases: list[SimCase] = []
        self.by_case_id: dict[int, SimCase] = {}
        self.tasks: dict[int, dict[str, Any]] = {}  # task id -> unit, case, sector cell, centre
        self.pending_dispatch: set[int] = set()
        self.dirty_units: set[int] = set()
        self.offers = 0
        self.calls = 0
        self.spent: dict[str, list] = {}  # event kind -> [count, seconds]

    # --- clock and events --------------------------------------------------------------------

    def now(self, t: float | None = None) -> datetime:
        return SIM_START + timedelta(seconds=self.t if t is None else t)

    def at(self, t: float, kind: str, *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, args))

    # --- the world ---------------------------------------------------------------------------

    def build(self) -> None:
        """Create the city, its units and two staff accounts (Django is set up)."""
        from django.contrib.auth.models import Group
        from django.contrib.gis.geos import MultiPolygon, Point, Polygon

        from accounts.models import Organisation, Unit, User
        from search.geo import SRID

        cfg = self.config
        rng = stream(cfg.seed, "world")
        lat0, lon0 = CITY_CENTRE
        dlat, dlon = CITY_HALF
        south, west, north, east = lat0 - dlat, lon0 - dlon, lat0 + dlat, lon0 + dlon
        self.bbox = (south, west, north, east)
        # A run's own names: two runs may share a database (the tests do).
        tag = uuid.uuid4().hex[:8]
        city = Organisation.objects.create(
            # Capital letters only (references are built from it).
            code="S" + "".join(chr(65 + int(c, 16) % 26) for c in tag[:7]),
            name="Simulated city",
            level="city",
            jurisdiction=MultiPolygon(Polygon.from_bbox((west, south, east, north)), srid=SRID),
        )
        staff = User.objects.create(username=f"sim-{cfg.seed}-{tag}", organisation=city)
        for role in ("clerk", "coordinator"):
            staff.groups.add(Group.objects.get_or_create(name=role)[0])
        self.staff = staff
        step_lat, step_lon = 2 * dlat / DISTRICTS, 2 * dlon / DISTRICTS
        from search.services.policy import effort

        rows = []
        for n in range(cfg.units):
            kind = pick(rng, KIND_MIX)
            if kind in CITY_WIDE:
                home = (south, west, north, east)
            else:
                i, j = rng.randrange(DISTRICTS), rng.randrange(DISTRICTS)
                s, w = south + i * step_lat, west + j * step_lon
                home = (s, w, s + step_lat, w + step_lon)
            lat, lon = rng.uniform(home[0], home[2]), rng.uniform(home[1], home[3])
            e = effort(kind)
            spread = [rng.uniform(0.8, 1.2) for _ in range(3)]
            unit = SimUnit(
                id=0,
                n=n,
                kind=kind,
                home=home,
                lat=lat,
                lon=lon,
                speed_kmh=e.speed_kmh * spread[0],
                sweep_km2_h=e.sweep_km2_h * spread[1],
                coverage=e.coverage * spread[2],
                available=rng.random() < AVAILABLE_SHARE,
            )
            rows.append(
                Unit(
                    organisation=city,
                    name=f"{kind}-{n:03d}",
                    kind=kind,
                    home_area=Polygon.from_bbox((home[1], home[0], home[3], home[2])),
                    availability="available" if unit.available else "off_duty",
                    last_position=Point(lon, lat, srid=SRID),
                    last_position_at=self.now(0),
                )
            )
            self.units[n] = unit
        made = Unit.objects.bulk_create(rows)
        self.units = {u.pk: self.units[n] for n, u in enumerate(made)}
        for pk, unit in self.units.items():
            unit.id = pk
        self._cases(rng_cases=stream(cfg.seed, "cases"))

    def _cases(self, rng_cases: random.Random) -> None:
        from search.models import SubjectProfile

        profiles = {p.category: p.distances for p in SubjectProfile.objects.filter(terrain="urban")}
        south, west, north, east = self.bbox
        margin_lat, margin_lon = (north - south) * 0.1, (east - west) * 0.1
        t = 0.0
        for idx in range(self.config.cases):
            t += rng_cases.expovariate(self.config.arrival_rate / 3600)
            category = pick(rng_cases, CATEGORY_MIX)
            lkp = (
                rng_cases.uniform(south + margin_lat, north - margin_lat),
                rng_cases.uniform(west + margin_lon, east - margin_lon),
            )
            median, sigma = REPORT_DELAY_MIN
            delay = min(max(rng_cases.lognormvariate(math.log(median), sigma), 10), 8 * 60) * 60
            hidden = draw_distance(rng_cases, profiles[category])
            person = offset(lkp, hidden, rng_cases.uniform(0, 2 * math.pi))
            sighting = None
            if rng_cases.random() < self.config.sighting_chance:
                sighting = t + rng_cases.uniform(0.5, 8) * 3600
            case = SimCase(
                idx=idx,
                filed_s=t,
                category=category,
                last_seen_s=t - delay,
                lkp=lkp,
                person=person,
                sighting_s=sighting,
            )
            self.cases.append(case)
            self.at(t, "file", idx)
            if sighting is not None:
                self.at(sighting, "sighting", idx)
            self.at(t + self.config.horizon_h * 3600, "cutoff", idx)
        for kind, every in BEAT.items():
            self.at(every, kind)

    # --- running -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from search.services import queue

        started = time.monotonic()
        self.build()
        real_publish = queue.publish
        queue.publish = self._publish
        try:
            while self.heap:
                t, _, kind, args = heapq.heappop(self.heap)
                if kind in ("expire", "sweep", "grow") and not self._any_open():
                    if self._all_closed():
                        continue
                    # Nothing to supervise until the next report: the beat runs on idle.
                    self.at(t + BEAT[kind], kind)
                    continue
                self.t = t
                began = time.perf_counter()
                getattr(self, f"on_{kind}")(*args)
                spent = self.spent.setdefault(kind, [0, 0.0])
                spent[0] += 1
                spent[1] += time.perf_counter() - began
        finally:
            queue.publish = real_publish
        result = self.measure()
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["service_calls"] = self.calls
        result["events"] = {k: [n, round(sec, 1)] for k, (n, sec) in sorted(self.spent.items())}
        return result

    def _any_open(self) -> bool:
        return any(c.case_id is not None and not c.closed for c in self.cases)

    def _all_closed(self) -> bool:
        return all(c.closed for c in self.cases) and len(self.by_case_id) == len(self.cases)

    def _publish(self, task_name: str, *args: Any, countdown: float | None = None) -> bool:
        """The broker, simulated: what the services queue on commit runs a moment later."""
        from search.services import queue

        if task_name == queue.DISPATCH:
            self.dispatch_soon(args[0])
        elif task_name == queue.OFFERS_NOTIFY:
            self.at(self.t + WORKER_LATENCY_S, "notify", tuple(args[0]))
        return True

    def dispatch_soon(self, case_id: int) -> None:
        if case_id not in self.pending_dispatch:
            self.pending_dispatch.add(case_id)
            self.at(self.t + WORKER_LATENCY_S, "dispatch", case_id)

    # --- events ------------------------------------------------------------------------------

    def on_file(self, idx: int) -> None:
        from django.contrib.gis.geos import Point

        from search.geo import SRID
        from search.services import intake
        from search.services.timeline import Origin

        case = self.cases[idx]
        values = {
            "subject_name": f"模拟 {case.idx}",
            "category": case.category,
            "estimated_age": AGES[case.category],
            "last_seen_at": self.now(case.last_seen_s),
            "last_seen_point": Point(case.lkp[1], case.lkp[0], srid=SRID),
            "location_source": "pin",
            "reporter_name": "sim",
            "reporter_phone": "+8613800138000",
            "report_channel": "phone_110",
        }
        made = intake.case_open(origin=Origin(actor=self.staff), data=intake.CaseInput(values))
        self.calls += 1
        case.case_id = made.pk
        self.by_case_id[made.pk] = case

    def on_dispatch(self, case_id: int) -> None:
        from search.services import areas

        self.pending_dispatch.discard(case_id)
        case = self.by_case_id[case_id]
        if case.closed:
            return
        first = case.area is None
        areas.dispatch_case(case_id=case_id, now=self.now())
        self.calls += 1
        self._area_changed(case, first=first)

    def _area_changed(self, case: SimCase, first: bool = False) -> None:
        """Read the case's current area: which units could serve it, and its top sectors."""
        from django.conf import settings
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ST_Y(centre::geometry), ST_X(centre::geometry), radii_m "
                "FROM search_searcharea WHERE case_id = %s AND is_current",
                [case.case_id],
            )
            row = cursor.fetchone()
            if row is None:
                return
            radii = json.loads(row[2]) if isinstance(row[2], str) else row[2]
            area = (row[0], row[1], float(radii[-1]) if radii else 1000.0)
            if first or not case.top:
                cursor.execute(
                    "SELECT id FROM search_sector WHERE case_id = %s AND in_current_area "
                    "AND ring = 1 ORDER BY id",
                    [case.case_id],
                )
                case.top = [r[0] for r in cursor.fetchall()]
        if area != case.area:
            case.area = area
            reach = area[2] + settings.DISPATCH["OUTSIDE_HOME_MAX_M"]
            dlat = reach / 111_320
            dlon = reach / (111_320 * math.cos(math.radians(area[0])))
            case.candidates = {
                u.id
                for u in self.units.values()
                if u.available
                and u.home[0] <= area[0] + dlat
                and u.home[2] >= area[0] - dlat
                and u.home[1] <= area[1] + dlon
                and u.home[3] >= area[1] - dlon
            }

    def on_notify(self, task_ids: tuple[int, ...]) -> None:
        from search.models import Task

        rows = Task.objects.filter(pk__in=task_ids, status="offered").values_list(
            "pk", "unit_id", "case_id", "sector__h3_index", "offered_at"
        )
        for pk, unit_id, case_id, cell, offered_at in rows:
            self.offers += 1
            case = self.by_case_id[case_id]
            offered_s = (offered_at - SIM_START).total_seconds()
            if case.first_offer_s is None or offered_s < case.first_offer_s:
                case.first_offer_s = offered_s
            self.tasks[pk] = {"unit": unit_id, "case": case_id, "cell": cell}
            rng = stream(self.config.seed, "answer", self.units[unit_id].n, cell)
            if rng.random() < self.config.no_answer:
                continue  # never answered: the expiry sweep takes it back
            median, sigma = ANSWER_DELAY_S
            delay = min(max(rng.lognormvariate(math.log(median), sigma), 5), 600)
            accept = rng.random() >= self.config.decline
            self.at(self.t + delay, "answer", pk, accept)

    def on_answer(self, task_id: int, accept: bool) -> None:
        from django.core.exceptions import ValidationError

        from search.models import Task
        from search.services import field
        from search.services.timeline import Origin

        task = Task.objects.select_related("unit", "case", "sector").get(pk=task_id)
        self.calls += 1
        try:
            if accept:
                field.task_accept(origin=Origin.system(), task=task, now=self.now())
            else:
                field.task_decline(origin=Origin.system(), task=task, reason="busy", now=self.now())
                self.dirty_units.add(task.unit_id)
                return
        except ValidationError:
            return  # expired, or taken back, before the answer came
        unit = self.units[task.unit_id]
        unit.queue.append(task_id)
        if unit.current is None:
            self._next(unit)

    def _next(self, unit: SimUnit) -> None:
        """Set off for the next accepted task, if any."""
        unit.current = None
        while unit.queue:
            task_id = unit.queue.pop(0)
            info = self.tasks[task_id]
            if self.by_case_id[info["case"]].closed:
                continue
            import h3

            centre = h3.cell_to_latlng(info["cell"])
            travel = distance_m((unit.lat, unit.lon), centre) / 1000 / unit.speed_kmh * 3600
            unit.current = task_id
            unit.token += 1
            unit.leg_started = self.t
            self.at(self.t + travel, "arrive", unit.id, unit.token, task_id, centre)
            return

    def _stop(self, unit: SimUnit) -> None:
        """The unit's current task was taken back: count its time so far, go on."""
        unit.busy_s += self.t - unit.leg_started
        unit.token += 1
        self._next(unit)

    def on_arrive(self, unit_id: int, token: int, task_id: int, centre: tuple) -> None:
        from django.core.exceptions import ValidationError

        from search.models import Task
        from search.services import field
        from search.services.timeline import Origin

        unit = self.units[unit_id]
        if token != unit.token:
            return
        unit.busy_s += self.t - unit.leg_started
        unit.lat, unit.lon = centre
        field.position_share(
            origin=Origin.system(),
            unit_id=unit_id,
            client_id=uuid.uuid4(),
            lat=centre[0],
            lon=centre[1],
            accuracy_m=10,
        )
        task = Task.objects.select_related("unit", "case", "sector").get(pk=task_id)
        self.calls += 2
        try:
            field.task_start(origin=Origin.system(), task=task, now=self.now())
        except ValidationError:
            self._next(unit)
            return
        import h3

        from search.services.policy import effort

        area = h3.cell_area(task.sector.h3_index, "km^2")
        planned = effort(unit.kind).coverage
        search_s = planned * area / unit.sweep_km2_h * 3600
        unit.leg_started = self.t
        self.at(self.t + search_s, "searched", unit_id, unit.token, task_id)

    def on_searched(self, unit_id: int, token: int, task_id: int) -> None:
        import h3
        from django.core.exceptions import ValidationError

        from search.models import Task
        from search.services import field
        from search.services.policy import pod
        from search.services.timeline import Origin

        unit = self.units[unit_id]
        if token != unit.token:
            return
        unit.busy_s += self.t - unit.leg_started
        info = self.tasks[task_id]
        case = self.by_case_id[info["case"]]
        cell = info["cell"]
        n = case.searches.get(cell, 0)
        case.searches[cell] = n + 1
        detection = pod(unit.coverage)
        here = h3.latlng_to_cell(*case.person, h3.get_resolution(cell)) == cell
        if (
            here
            and detected(self.config.seed, case.idx, cell, n, unit.coverage)
            and not case.closed
        ):
            self._found(case, unit)
        else:
            task = Task.objects.select_related("unit", "case", "sector").get(pk=task_id)
            self.calls += 1
            with contextlib.suppress(ValidationError):
                field.task_finish(
                    origin=Origin.system(), task=task, coverage=detection, now=self.now()
                )
            self.dirty_units.add(unit_id)
        self._next(unit)

    def _found(self, case: SimCase, unit: SimUnit) -> None:
        from django.contrib.gis.geos import Point

        from accounts.models import Unit
        from search.geo import SRID
        from search.models import Case
        from search.services import field
        from search.services.timeline import Origin

        origin = Origin(actor=self.staff)
        db_case = Case.objects.get(pk=case.case_id)
        field.found_report(
            origin=origin,
            case=db_case,
            point=Point(case.person[1], case.person[0], srid=SRID),
            seen_at=self.now(),
            condition="well",
            with_whom=f"unit {unit.id}",
            unit=Unit.objects.get(pk=unit.id),
            now=self.now(),
        )
        case.found_s = self.t
        self._close(case, "found_well")

    def _close(self, case: SimCase, outcome: str) -> None:
        from search.models import Case
        from search.services import lifecycle
        from search.services.timeline import Origin

        lifecycle.case_close(
            origin=Origin(actor=self.staff),
            case=Case.objects.get(pk=case.case_id),
            outcome=outcome,
            now=self.now(),
        )
        self.calls += 2
        case.closed = True
        self._taken_back(case)

    def _taken_back(self, case: SimCase) -> None:
        """Units working on tasks of this case that the services cancelled stop at once (their
        phones hear of it on the next poll)."""
        from search.models import Task

        cancelled = set(
            Task.objects.filter(
                case_id=case.case_id, status="cancelled", finished_at=self.now()
            ).values_list("pk", flat=True)
        )
        if not cancelled:
            return
        for unit in self.units.values():
            unit.queue = [t for t in unit.queue if t not in cancelled]
            if unit.current in cancelled:
                self.dirty_units.add(unit.id)
                self._stop(unit)
        for pk in cancelled:
            info = self.tasks.get(pk)
            if info:
                self.dirty_units.add(info["unit"])

    def on_sighting(self, idx: int) -> None:
        from django.contrib.gis.geos import Point

        from search.geo import SRID
        from search.models import Case
        from search.services import areas, field
        from search.services.timeline import Origin

        case = self.cases[idx]
        if case.closed or case.case_id is None:
            return
        rng = stream(self.config.seed, "sighting", idx)
        lat, lon = offset(case.person, abs(rng.gauss(0, 150)), rng.uniform(0, 2 * math.pi))
        seen = max(self.t - rng.uniform(5, 30) * 60, case.last_seen_s + 60)
        origin = Origin(actor=self.staff)
        sighting = field.sighting_record(
            origin=origin,
            case=Case.objects.get(pk=case.case_id),
            kind="sighting",
            point=Point(lon, lat, srid=SRID),
            seen_at=self.now(seen),
            description="simulated sighting",
            confidence="plausible",
        )
        areas.sighting_confirm(origin=origin, sighting=sighting, now=self.now())
        self.calls += 2
        self._taken_back(case)
        self._area_changed(case)

    def on_cutoff(self, idx: int) -> None:
        case = self.cases[idx]
        if not case.closed and case.case_id is not None:
            self._close(case, "not_found")

    def on_expire(self) -> None:
        from search.models import Task
        from search.services import offers

        for case_id in offers.offers_expire(now=self.now()):
            self.dispatch_soon(case_id)
        self.dirty_units.update(
            Task.objects.filter(status="expired", answered_at=self.now()).values_list(
                "unit_id", flat=True
            )
        )
        self.calls += 1
        self.at(self.t + BEAT["expire"], "expire")

    def on_sweep(self) -> None:
        """dispatch_sweep: re-dispatch the cases with sectors waiting. A case none of whose
        possible units was freed since the last sweep would be offered nothing, so it is left."""
        from search.services import offers

        if self.dirty_units:
            waiting = offers.cases_waiting_for_offers()
            self.calls += 1
            for case_id in waiting:
                case = self.by_case_id.get(case_id)
                if case and case.candidates & self.dirty_units:
                    self.dispatch_soon(case_id)
            self.dirty_units.clear()
        self.at(self.t + BEAT["sweep"], "sweep")

    def on_grow(self) -> None:
        from search.services import areas

        for case_id in areas.areas_grow(now=self.now()):
            case = self.by_case_id[case_id]
            self._taken_back(case)
            self._area_changed(case)
            self.dispatch_soon(case_id)
        self.calls += 1
        self.at(self.t + BEAT["grow"], "grow")

    # --- figures -----------------------------------------------------------------------------

    def measure(self) -> dict[str, Any]:
        from django.db.models import Min

        from search.models import Task

        cfg = self.config
        ttf = [(c.found_s - c.filed_s) / 60 if c.found_s is not None else None for c in self.cases]
        found = sorted(x for x in ttf if x is not None)
        n = len(self.cases)

        def share_within(minutes: float) -> float:
            return sum(1 for x in found if x <= minutes) / n

        def quantile(q: float) -> float | None:
            # Over every case, the unfound counting as never: None if not reached.
            k = math.ceil(q * n) - 1
            return found[k] if k < len(found) else None

        first_offer = [
            c.first_offer_s - c.filed_s for c in self.cases if c.first_offer_s is not None
        ]
        top_all = [s for c in self.cases for s in c.top]
        offered = dict(
            Task.objects.filter(sector_id__in=top_all)
            .values("sector_id")
            .annotate(first=Min("offered_at"))
            .values_list("sector_id", "first")
        )
        searched = dict(
            Task.objects.filter(sector_id__in=top_all, status="done")
            .values("sector_id")
            .annotate(first=Min("finished_at"))
            .values_list("sector_id", "first")
        )
        in_3, top_n, in_60, top_60_n = 0, 0, 0, 0
        for c in self.cases:
            filed = self.now(c.filed_s)
            for s in c.top:
                top_n += 1
                in_3 += s in offered and offered[s] <= filed + timedelta(minutes=3)
                if c.found_s is not None and c.found_s - c.filed_s <= 3600:
                    continue  # found within the hour: its ground needed no more searching
                top_60_n += 1
                in_60 += s in searched and searched[s] <= filed + timedelta(minutes=60)
        span = max(c.filed_s for c in self.cases) + cfg.horizon_h * 3600 - self.cases[0].filed_s
        available = sum(1 for u in self.units.values() if u.available)
        busy = sum(u.busy_s for u in self.units.values())
        expired = Task.objects.filter(case_id__in=self.by_case_id, status="expired").count()
        return {
            "policy": cfg.policy,
            "seed": cfg.seed,
            "cases": n,
            "units": cfg.units,
            "found_1h": round(share_within(60), 3),
            "found_3h": round(share_within(180), 3),
            "found_24h": round(share_within(24 * 60), 3),
            "never_found": round(1 - share_within(cfg.horizon_h * 60), 3),
            "ttf_p50_min": _round(quantile(0.5)),
            "ttf_p90_min": _round(quantile(0.9)),
            "first_offer_p50_s": _round(statistics.median(first_offer) if first_offer else None),
            "first_offer_max_s": _round(max(first_offer) if first_offer else None),
            "top_offered_3min": round(in_3 / top_n, 3) if top_n else None,
            "top_searched_60min": round(in_60 / top_60_n, 3) if top_60_n else None,
            "util": round(busy / (available * span), 3) if available else 0.0,
            "offers": self.offers,
            "offers_expired": expired,
            "ttf_min": ttf,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --- the command: a database per run, the runs side by side, the lines and the plot ---------


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # DEBUG keeps every query in memory: a day's simulation makes millions.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-simulate-not-a-secret-" + "x" * 24)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def template_url() -> str:
    return common.database_url("simulate")


def run_url(seed: int, policy: str) -> str:
    base = template_url()
    return base + f"_s{seed}_{policy}"


def prepare_template() -> None:
    """Migrate the bench's template database once; each run copies it (a second or so)."""
    env = {**os.environ, "DATABASE_URL": template_url()}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    dbsetup = [sys.executable, str(ROOT / ".ci" / "dbsetup.py"), "create"]
    subprocess.run(dbsetup, check=True, env=env)
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"]
    subprocess.run(migrate, check=True, env=env)


def copy_template(url: str) -> None:
    from urllib.parse import unquote, urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(template_url())
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    template = unquote(parts.path.lstrip("/"))
    name = unquote(urlsplit(url).path.lstrip("/"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # The run's database is thrown away afterwards: no need to wait for the disk at each
        # of its hundred thousand commits (the code path is the same; only durability differs).
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')


def drop(url: str) -> None:
    from urllib.parse import unquote, urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    name = unquote(parts.path.lstrip("/"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_one(args: argparse.Namespace) -> None:
    """In a child process: one policy, one seed, in the database given; JSON on stdout."""
    os.environ["DISPATCH_POLICY"] = args.policy
    setup_django(args.database)
    config = Config(
        seed=args.seed,
        units=args.units,
        cases=args.cases,
        rate=args.rate,
        horizon_h=args.horizon,
        policy=args.policy,
        no_answer=args.no_answer,
        decline=args.decline,
        sighting_chance=args.sighting_chance,
    )
    result = Simulation(config).run()
    print("RESULT " + json.dumps(result))


def spawn(args: argparse.Namespace, seed: int, policy: str) -> dict[str, Any]:
    url = run_url(seed, policy)
    copy_template(url)
    command = [
        sys.executable, "-m", "bench.simulate", "--child", "--database", url,
        "--seed", str(seed), "--policy", policy, "--units", str(args.units),
        "--cases", str(args.cases), "--horizon", str(args.horizon),
        "--no-answer", str(args.no_answer), "--decline", str(args.decline),
        "--sighting-chance", str(args.sighting_chance),
    ]  # fmt: skip
    if args.rate:
        command += ["--rate", str(args.rate)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    finally:
        if not args.keep:
            drop(url)
    if done.returncode != 0:
        raise SystemExit(f"simulate {policy} seed {seed} failed:\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


FIGURES = (
    "found_1h", "found_3h", "found_24h", "never_found", "ttf_p50_min", "ttf_p90_min",
    "first_offer_p50_s", "top_offered_3min", "top_searched_60min", "util", "offers",
    "offers_expired",
)  # fmt: skip


def line(result: dict[str, Any], **extra: Any) -> str:
    fields = {"policy": result["policy"], **extra, "cases": result["cases"]}
    fields.update({k: result.get(k) for k in FIGURES})
    if "elapsed_s" in result:
        fields["elapsed_s"] = result["elapsed_s"]
    return "simulate " + " ".join(f"{k}={'inf' if v is None else v}" for k, v in fields.items())


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One policy over all seeds: the cases pooled for the shares and quantiles."""
    ttf = sorted(x for r in results for x in r["ttf_min"] if x is not None)
    n = sum(r["cases"] for r in results)

    def quantile(q: float) -> float | None:
        k = math.ceil(q * n) - 1
        return round(ttf[k], 1) if k < len(ttf) else None

    out: dict[str, Any] = {"policy": results[0]["policy"], "cases": n}
    for key, minutes in (("found_1h", 60), ("found_3h", 180), ("found_24h", 1440)):
        out[key] = round(sum(1 for x in ttf if x <= minutes) / n, 3)
    out["never_found"] = round(1 - len(ttf) / n, 3)
    out["ttf_p50_min"], out["ttf_p90_min"] = quantile(0.5), quantile(0.9)
    for key in ("first_offer_p50_s", "top_offered_3min", "top_searched_60min", "util"):
        values = [r[key] for r in results if r[key] is not None]
        out[key] = round(statistics.mean(values), 3) if values else None
    for key in ("offers", "offers_expired"):
        out[key] = sum(r[key] for r in results)
    return out


def plot(
    results: dict[str, list[dict[str, Any]]], path: Path, title: str, horizon_h: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    hours = [h / 12 for h in range(0, int(horizon_h * 12) + 1)]
    for policy, runs in results.items():
        ttf = [x for r in runs for x in r["ttf_min"]]
        n = len(ttf)
        ys = [sum(1 for x in ttf if x is not None and x <= h * 60) / n for h in hours]
        ax.plot(hours, ys, label=policy, linewidth=1.8)
    ax.set_xlabel("hours since the report was filed")
    ax.set_ylabel("share of cases found")
    ax.set_xlim(0, horizon_h)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (paired runs)")
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--policy", default="ring", help=argparse.SUPPRESS)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--rate", type=float, default=None, help="cases an hour (default: a day)")
    parser.add_argument("--horizon", type=float, default=24.0, help="hours each case is searched")
    parser.add_argument("--no-answer", type=float, default=0.10, help="share of offers ignored")
    parser.add_argument("--decline", type=float, default=0.05, help="share of answers declining")
    parser.add_argument("--sighting-chance", type=float, default=0.2)
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "simulate-found.png"))
    parser.add_argument("--keep", action="store_true", help="keep each run's database")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args)
        return
    print(common.load_line(), flush=True)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    policies = [p for p in args.policies.split(",") if p.strip()]
    unknown = set(policies) - set(POLICIES)
    if unknown:
        parser.error(f"unknown policies: {', '.join(sorted(unknown))}")
    prepare_template()
    jobs = [(seed, policy) for seed in seeds for policy in policies]
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        for (seed, policy), result in zip(
            jobs, pool.map(lambda job: spawn(args, *job), jobs), strict=True
        ):
            results[policy].append(result)
            print(line(result, seed=seed), flush=True)
    for policy in policies:
        print(line(pooled(results[policy]), seeds=len(seeds)), flush=True)
    if args.plot:
        title = f"{args.cases} cases a day, {args.units} units, seeds {args.seeds}"
        plot(results, Path(args.plot), title, args.horizon)
        print(f"simulate plot={args.plot}", flush=True)


if __name__ == "__main__":
    main()
