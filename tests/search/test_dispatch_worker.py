"""Dispatch through the real broker and a real worker process, including a killed worker."""

import os
import signal
import subprocess
import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from search.models import Alert, Task
from search.services import areas
from search.services.offers import OFFERS_LOCK_KEY
from search.tasks import dispatch as dispatch_task
from search.tasks import offers_expire
from tests.helpers import wait_for
from tests.search.dispatch_world import build_world, open_case, worker_round_trip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def offers(case):
    return list(Task.objects.filter(case=case, status="offered").select_related("unit"))


def assert_no_duplicates(case):
    pairs = list(Task.objects.filter(case=case).values_list("sector_id", "unit_id"))
    assert len(pairs) == len(set(pairs))
    open_sectors = list(Task.objects.filter(case=case).open().values_list("sector_id", flat=True))
    assert len(open_sectors) == len(set(open_sectors))


def test_a_new_case_leads_to_offers_for_the_right_units(celery_worker):
    world = build_world()

    case = open_case(world)  # commits, and queues dispatch on commit

    found = wait_for(lambda: len(offers(case)) == 8 and offers(case), timeout=60)
    assert {t.unit for t in found} == {world.near, world.middle, world.far, world.boat}
    assert all(t.unit.home_area.contains(t.sector.centroid) for t in found)
    assert_no_duplicates(case)


def test_repeated_and_concurrent_dispatch_create_nothing_twice(celery_worker):
    world = build_world()
    case = open_case(world)
    wait_for(lambda: len(offers(case)) == 8)

    for _ in range(5):
        dispatch_task.delay(case.pk)
    threads = [
        threading.Thread(target=lambda: (areas.dispatch_case(case_id=case.pk), connection.close()))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A case opened after the dispatches has its area once they have all run.
    worker_round_trip(world)

    assert Task.objects.filter(case=case).count() == 8
    assert case.areas.count() == 1
    assert_no_duplicates(case)


def test_expired_offer_goes_to_the_next_unit_through_the_worker(celery_worker):
    world = build_world()
    case = open_case(world)
    wait_for(lambda: len(offers(case)) == 8)
    first = Task.objects.filter(case=case, unit=world.near).order_by("-sector__weight").first()
    Task.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    offers_expire.delay()

    wait_for(lambda: Task.objects.filter(pk=first.pk, status="expired").exists())
    # near is free again (one open offer left), so the queue's best sector went to it; the
    # expired sector waits for a unit that has not had it yet.
    assert Alert.objects.filter(kind="offer_expired", task=first).exists()
    assert_no_duplicates(case)


def worker_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


# The worker is killed mid-dispatch this many times in a row before it may finish.
KILLS = 10


def test_worker_killed_mid_dispatch_is_followed_by_a_complete_result(celery_worker):
    world = build_world()
    db = connection.settings_dict
    blocker = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=True,
    )
    try:
        # Hold the offers lock: dispatch computes and commits the area, then waits here.
        blocker.execute("SELECT pg_advisory_lock(%s)", [OFFERS_LOCK_KEY])
        case = open_case(world)
        seen: set[int] = set()

        def new_waiter() -> set[int]:
            # A killed child's database session may still wait on the lock: look for a new one.
            # pg_locks spans the whole server: another test run's database is not ours to count.
            rows = blocker.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall()
            return {pid for (pid,) in rows} - seen

        for _ in range(KILLS):
            seen |= wait_for(new_waiter, timeout=120)
            assert case.sectors.exists() and not Task.objects.filter(case=case).exists()
            children = worker_children(celery_worker.pid)
            assert children, "the prefork worker has no child process"
            for child in children:
                os.kill(child, signal.SIGKILL)
    finally:
        blocker.execute("SELECT pg_advisory_unlock(%s)", [OFFERS_LOCK_KEY])
        blocker.close()

    # The message was handed back when its process died; a new child runs it to the end.
    found = wait_for(lambda: len(offers(case)) == 8 and offers(case), timeout=60)
    assert {t.unit for t in found} == {world.near, world.middle, world.far, world.boat}
    assert case.areas.count() == 1
    assert_no_duplicates(case)


def test_time_growth_on_the_worker_adds_sectors_and_offers_them(celery_worker, settings):
    from search.models import SearchArea, SubjectProfile
    from search.tasks import areas_grow

    world = build_world()
    SubjectProfile.objects.filter(category="adult", terrain="urban").update(speed_kmh=0.1)
    case = open_case(world, last_seen_at=timezone.now() - timedelta(hours=3))
    wait_for(lambda: offers(case))
    first = case.areas.get()
    before = case.sectors.count()
    # As if an hour had passed since the area was computed: the person could be 100 m farther.
    SearchArea.objects.filter(pk=first.pk).update(centred_at=first.centred_at - timedelta(hours=1))

    areas_grow.delay()

    grown = wait_for(lambda: case.areas.filter(version=2).first(), timeout=60)
    assert grown.reason == "time_growth" and grown.radii_m[-1] == 400
    wait_for(lambda: case.sectors.count() > before)
    assert_no_duplicates(case)


def test_confirmed_sighting_is_followed_by_offers_around_it(celery_worker):
    from django.contrib.gis.geos import Point

    from search.geo import SRID
    from search.services import field
    from search.services.timeline import Origin
    from tests.search.dispatch_world import LAST_SEEN

    world = build_world()
    case = open_case(world)
    wait_for(lambda: len(offers(case)) == 8)
    sighting = field.sighting_record(
        origin=Origin(actor=world.clerk),
        case=case,
        kind="sighting",
        point=Point(LAST_SEEN[0] + 0.016, LAST_SEEN[1], srid=SRID),
        seen_at=timezone.now() - timedelta(minutes=10),
    )

    areas.sighting_confirm(origin=Origin(actor=world.clerk), sighting=sighting)

    # Ten minutes at 3 km/h: rings up to 500 m, part of them east of every unit's home area.
    coverable = case.sectors.filter(
        in_current_area=True, centroid__within=world.near.home_area
    ).count()
    expected = min(8, coverable)
    assert expected > 0

    def offers_in_new_area():
        current = [t for t in offers(case) if t.sector.in_current_area]
        return len(current) == expected and current

    found = wait_for(offers_in_new_area, timeout=60)
    assert all(t.sector.area.reason == "sighting" for t in found)
    assert Task.objects.filter(case=case, status="cancelled").count() == 8
    assert_no_duplicates(case)
