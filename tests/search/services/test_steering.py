"""A coordinator steers the search: confirmed sightings, pause and resume, reassignment."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from search.geo import SRID
from search.models import Alert, Task
from search.services import areas, field, offers
from search.services.timeline import Origin
from tests.factories import UnitFactory, UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings):
    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 50}
    return build_world()


@pytest.fixture
def case(world):
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    return case


def test_confirmed_sighting_recentres_and_cancels_tasks_left_outside(world, case):
    who = Origin(actor=world.clerk)
    lon, lat = LAST_SEEN
    # 1.5 km east: the 800 m rings around it do not overlap the old ones.
    sighting = field.sighting_record(
        origin=who,
        case=case,
        kind="sighting",
        point=Point(lon + 0.016, lat, srid=SRID),
        seen_at=timezone.now() - timedelta(minutes=30),
        description="Seen at the bus stop",
    )
    old_tasks = set(Task.objects.filter(case=case).open().values_list("pk", flat=True))

    area = areas.sighting_confirm(origin=who, sighting=sighting)
    offers.offers_make(case=case)

    assert (area.version, area.reason) == (2, "sighting")
    assert area.centre.x == pytest.approx(lon + 0.016)
    assert area.radii_m == [200, 400, 600, 800]  # 30 min at 3 km/h reaches past 800 m
    cancelled = Task.objects.filter(pk__in=old_tasks, status="cancelled")
    assert cancelled.count() == len(old_tasks)
    assert all("Outside search area v2" in t.note for t in cancelled)
    assert Alert.objects.filter(case=case, kind="tasks_cancelled").exists()
    new_offers = Task.objects.filter(case=case, status="offered")
    assert new_offers.exists()
    assert all(t.sector.in_current_area for t in new_offers)
    assert areas.sighting_confirm(origin=who, sighting=sighting) is None  # once only


def test_pause_stops_new_offers_and_resume_starts_them(world, case):
    who = Origin(actor=world.clerk)
    Task.objects.filter(case=case).update(status="cancelled")
    case.sectors.update(status="unassigned")

    offers.search_pause(origin=who, case=case, paused=True, reason="Night")
    assert offers.offers_make(case=case).offered == []

    offers.search_pause(origin=who, case=case, paused=False)
    assert offers.offers_make(case=case).offered != []
    assert case.events.filter(kind="search_paused").count() == 2


def test_reassign_moves_the_sector_to_the_chosen_unit(world, case):
    task = Task.objects.filter(case=case, unit=world.near).first()

    new = offers.sector_reassign(
        origin=Origin(actor=world.clerk), sector=task.sector, unit=world.far
    )

    assert Task.objects.get(pk=task.pk).status == "cancelled"
    assert (new.unit, new.status) == (world.far, "offered")
    assert Task.objects.filter(sector=task.sector).open().count() == 1


def test_reassign_back_to_a_unit_that_declined_offers_it_anew(world, case):
    task = Task.objects.filter(case=case, unit=world.near).first()
    world.near.members.add(world.clerk)
    field.task_decline(origin=Origin(actor=world.clerk), task=task, reason="busy")

    again = offers.sector_reassign(
        origin=Origin(actor=world.clerk), sector=task.sector, unit=world.near
    )

    assert again.pk == task.pk and again.status == "offered"


def test_reassign_refuses_a_unit_of_another_city_and_a_non_coordinator(world, case):
    task = Task.objects.filter(case=case).first()
    stranger = UnitFactory()

    with pytest.raises(ValidationError, match="another city"):
        offers.sector_reassign(origin=Origin(actor=world.clerk), sector=task.sector, unit=stranger)
    with pytest.raises(PermissionDenied):
        offers.sector_reassign(
            origin=Origin(actor=UserFactory(organisation=world.city, roles=["clerk"])),
            sector=task.sector,
            unit=world.far,
        )


def test_sighting_in_the_future_is_refused(world, case):
    with pytest.raises(ValidationError, match="future"):
        field.sighting_record(
            origin=Origin(actor=world.clerk),
            case=case,
            kind="clue",
            point=Point(*LAST_SEEN, srid=SRID),
            seen_at=timezone.now() + timedelta(hours=1),
        )
