"""Fan-out benchmark: 10,000 units, a case of about 2,000 sectors, through a real worker.

Measures the time from the commit of a new case to all its offers persisted (the worker computes
the area, cuts the sectors and writes the offers), median of several runs, against the floor:
one hand-written SQL statement doing the same spatial join and insert. Runs in a database of its
own and a Redis database of its own (bench/common.py), so it disturbs nothing else; the city and
its units are built once and reused.

    make bench        (or: python -m bench.fanout --runs 5)
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from bench import common

ROOT = common.ROOT
UNITS = 10_000
# The city: about 110 x 110 km. Each unit's home area is a box about 4.4 km wide.
CITY_BBOX = (116.70, 33.75, 117.90, 34.75)
HOME_HALF_WIDTH = 0.02
LAST_SEEN = (117.30, 34.25)
# Adult, urban, last seen 4 h ago: the 95 % ring (8 km) is inside the travel cap (12 km), which
# cuts into about 2,000 H3 cells at resolution 9.
HOURS_AGO = 4
SEED = 7


def setup_django() -> None:
    os.environ["DATABASE_URL"] = common.database_url("fanout")
    os.environ["REDIS_URL"] = os.environ["CELERY_BROKER_URL"] = common.redis_url("fanout")
    os.environ["CELERY_QUEUE"] = "beacon-bench"
    # Enough capacity per unit that every sector can be offered, as the floor offers every one.
    os.environ.setdefault("DISPATCH_MAX_OPEN_TASKS_PER_UNIT", "20")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "dbsetup.py"), "create"], check=True, env=os.environ
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_city():
    """Create the city and its 10,000 units once; later runs reuse them."""
    from django.contrib.auth.models import Group
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.utils import timezone

    from accounts.models import Organisation, Unit, User
    from search.geo import SRID

    city, _ = Organisation.objects.get_or_create(
        code="BENCH",
        defaults={
            "name": "Bench City",
            "level": "city",
            "jurisdiction": MultiPolygon(Polygon.from_bbox(CITY_BBOX), srid=SRID),
        },
    )
    if Unit.objects.filter(organisation=city).count() != UNITS:
        Unit.objects.filter(organisation=city).delete()
        rng = random.Random(SEED)
        west, south, east, north = CITY_BBOX
        now = timezone.now()
        units = []
        for n in range(UNITS):
            lon = rng.uniform(west + HOME_HALF_WIDTH, east - HOME_HALF_WIDTH)
            lat = rng.uniform(south + HOME_HALF_WIDTH, north - HOME_HALF_WIDTH)
            units.append(
                Unit(
                    organisation=city,
                    name=f"U{n:05d}",
                    kind="patrol",
                    home_area=Polygon.from_bbox(
                        (
                            lon - HOME_HALF_WIDTH,
                            lat - HOME_HALF_WIDTH,
                            lon + HOME_HALF_WIDTH,
                            lat + HOME_HALF_WIDTH,
                        )
                    ),
                    capabilities=["search"],
                    last_position=Point(
                        lon + rng.uniform(-0.01, 0.01), lat + rng.uniform(-0.01, 0.01), srid=SRID
                    ),
                    last_position_at=now,
                )
            )
        Unit.objects.bulk_create(units, batch_size=2000)
    clerk, created = User.objects.get_or_create(username="bench-clerk", organisation=city)
    if created:
        clerk.groups.add(Group.objects.get_or_create(name="clerk")[0])
    return city, clerk


def reset_cases() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE search_task, search_alert, search_sector, search_searcharea, "
            "search_caseevent, search_crisiscontact, search_case_linked_cases, search_case, "
            "search_casereferencecounter CASCADE"
        )
        cursor.execute("ANALYZE accounts_unit")


def start_worker() -> subprocess.Popen:
    from config.celery import app

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            "--queues=beacon-bench",
            "--hostname=bench@localhost",
        ],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not app.control.ping(destination=["bench@localhost"], timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("bench: the Celery worker did not start")
    return proc


def one_fanout(clerk) -> tuple[float, int, int]:
    """File a case, and return (seconds from commit to offers persisted, sectors, offers)."""
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from search.geo import SRID
    from search.models import CaseEvent, Task
    from search.services import intake
    from search.services.timeline import Origin

    values = {
        "subject_name": "Bench",
        "category": "adult",
        "terrain": "urban",
        "estimated_age": 40,
        "last_seen_at": timezone.now() - timedelta(hours=HOURS_AGO),
        "last_seen_point": Point(*LAST_SEEN, srid=SRID),
        "location_source": "api",
    }
    case = intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(values))
    committed = time.perf_counter()  # case_open's transaction has committed on return
    deadline = committed + 60
    while not CaseEvent.objects.filter(case=case, kind="offers_made").exists():
        if time.perf_counter() > deadline:
            raise SystemExit("bench: no offers within 60 s")
        time.sleep(0.005)
    elapsed = time.perf_counter() - committed
    return elapsed, case.sectors.count(), Task.objects.filter(case=case).count()


FLOOR_SQL = """
INSERT INTO search_task (case_id, sector_id, unit_id, status, rank, distance_m, offered_at,
                         expires_at, last_activity_at, note)
SELECT DISTINCT ON (s.id) s.case_id, s.id, u.id, 'offered', 1,
       ST_Distance(u.last_position, s.centroid::geography, false), now(),
       now() + interval '3 minutes',
       now(), ''
FROM search_sector s
JOIN accounts_unit u ON ST_Contains(u.home_area, s.centroid) AND u.availability = 'available'
WHERE s.case_id = %s
ORDER BY s.id, ST_Distance(u.last_position, s.centroid::geography, false)
"""


def floor(case_id: int) -> tuple[float, int]:
    """Time the one-statement floor on the case's sectors (its own offers removed first)."""
    from django.db import connection, transaction

    from search.models import Task

    Task.objects.filter(case_id=case_id).delete()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, [case_id])
        inserted = cursor.rowcount
    return time.perf_counter() - started, inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(common.load_line(), flush=True)
    setup_django()
    from search.models import Case, SubjectProfile

    if not SubjectProfile.objects.filter(category="adult", terrain="urban").exists():
        raise SystemExit("bench: the default subject profiles are missing (migrate)")
    _, clerk = build_city()
    worker = start_worker()
    fanouts, floors, sectors, offers, floor_offers = [], [], 0, 0, 0
    try:
        for run in range(1, args.runs + 1):
            reset_cases()
            seconds, sectors, offers = one_fanout(clerk)
            case_id = Case.objects.get().pk
            floor_s, floor_offers = floor(case_id)
            fanouts.append(seconds)
            floors.append(floor_s)
            print(
                f"run {run}: fanout {seconds:.3f} s ({sectors} sectors, {offers} offers); "
                f"floor {floor_s:.3f} s ({floor_offers} offers)"
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    fanout_s, floor_s = statistics.median(fanouts), statistics.median(floors)
    print(
        f"fanout units={UNITS} sectors={sectors} offers={offers} "
        f"fanout_s={fanout_s:.3f} floor_s={floor_s:.3f} ratio={fanout_s / floor_s:.2f}"
    )


if __name__ == "__main__":
    main()
