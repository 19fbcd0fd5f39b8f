"""Search area, sectors and offers, called directly (the worker tests cover the Celery path)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from search.choices import SectorStatus, TaskStatus
from search.models import Alert, Sector, SubjectProfile, Task
from search.services import areas, field, offers
from search.services.timeline import Origin
from tests.search.dispatch_world import build_world, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings):
    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 2}
    return build_world()


def test_initial_area_has_rings_from_the_profile_and_weights_summing_to_one(world):
    case = open_case(world)

    areas.dispatch_case(case_id=case.pk)

    area = case.areas.get()
    assert (area.version, area.reason, area.is_current) == (1, "initial", True)
    assert area.radii_m == [200, 400, 600, 800]
    sectors = list(case.sectors.all())
    assert 10 < len(sectors) < 60
    assert sum(s.weight for s in sectors) == pytest.approx(1.0)
    inner = max(s.weight for s in sectors if s.ring == 1)
    outer = max(s.weight for s in sectors if s.ring == 4)
    assert inner > outer


def test_travel_cap_shrinks_the_rings_of_a_recent_report(world, settings):
    settings.DISPATCH = {**settings.DISPATCH, "MIN_REACH_M": 150}
    case = open_case(world, last_seen_at=timezone.now() - timedelta(minutes=2))

    areas.dispatch_case(case_id=case.pk)

    # 3 km/h for 2 minutes is 100 m, under the 150 m floor: every ring stops at 150 m.
    assert case.areas.get().radii_m == [150, 150, 150, 150]


def test_offers_go_to_covering_available_units_nearest_first_capped_per_unit(world):
    case = open_case(world)

    result = areas.dispatch_case(case_id=case.pk)

    tasks = list(Task.objects.filter(case=case).select_related("unit", "sector"))
    units = {t.unit for t in tasks}
    assert units == {world.near, world.middle, world.far, world.boat}  # 4 units x 2 = 8
    assert len(tasks) == 8
    assert result.waiting == case.sectors.count() - 8
    # Highest-probability sectors were offered first, and the nearest unit got the best ones.
    offered = {t.sector_id for t in tasks}
    waiting_weights = [s.weight for s in case.sectors.exclude(pk__in=offered)]
    assert min(t.sector.weight for t in tasks) >= max(waiting_weights)
    near_weights = [t.sector.weight for t in tasks if t.unit == world.near]
    far_weights = [t.sector.weight for t in tasks if t.unit == world.far]
    assert min(near_weights) >= max(far_weights)
    assert all(t.status == "offered" and t.expires_at > t.offered_at for t in tasks)
    assert case.sectors.filter(status=SectorStatus.OFFERED).count() == 8
    case.refresh_from_db()
    assert case.status == "active"


def test_a_sector_that_needs_a_boat_goes_only_to_the_boat(world, settings):
    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 1}
    case = open_case(world)
    areas.area_compute(case=case, reason="initial", origin=Origin.system())
    water = case.sectors.order_by("-weight").first()
    Sector.objects.filter(pk=water.pk).update(required_capability="boat")

    offers.offers_make(case=case)

    assert Task.objects.get(sector=water).unit == world.boat


def test_dispatch_twice_creates_nothing_twice(world):
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    before = (Task.objects.count(), Sector.objects.count(), case.areas.count())

    again = areas.dispatch_case(case_id=case.pk)

    assert again.offered == []
    assert (Task.objects.count(), Sector.objects.count(), case.areas.count()) == before


def test_the_database_refuses_a_second_task_for_the_same_sector_and_unit(world):
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    task = Task.objects.first()

    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(
            case=case,
            sector=task.sector,
            unit=task.unit,
            status="declined",
            offered_at=task.offered_at,
            expires_at=task.expires_at,
            last_activity_at=task.offered_at,
        )
    with pytest.raises(IntegrityError, match="task_one_open_per_sector"), transaction.atomic():
        Task.objects.create(
            case=case,
            sector=task.sector,
            unit=world.elsewhere,
            status="offered",
            offered_at=task.offered_at,
            expires_at=task.expires_at,
            last_activity_at=task.offered_at,
        )


def test_declined_offer_goes_to_the_next_unit(world, settings):
    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 50}
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    task = Task.objects.filter(unit=world.near).order_by("-sector__weight").first()
    world.near.members.add(world.clerk)

    field.task_decline(origin=Origin(actor=world.clerk), task=task, reason="Vehicle broke down")
    offers.offers_make(case=case)

    retry = Task.objects.get(sector=task.sector, status="offered")
    assert (retry.unit, retry.rank) == (world.middle, 2)
    assert Task.objects.get(pk=task.pk).status == "declined"


def test_expired_offer_is_reoffered_and_the_coordinator_is_told(world):
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    task = Task.objects.filter(unit=world.near).first()

    later = timezone.now() + timedelta(minutes=10)
    cases = offers.offers_expire(now=later)
    offers.offers_make(case=case)

    assert cases == [case.pk]
    assert Task.objects.get(pk=task.pk).status == TaskStatus.EXPIRED
    assert Task.objects.get(sector=task.sector, status="offered").unit != world.near
    alert = Alert.objects.filter(kind="offer_expired", task=task).get()
    assert "near" in alert.message


def test_accepting_an_expired_offer_is_refused(world):
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    task = Task.objects.filter(unit=world.near).first()
    world.near.members.add(world.clerk)
    Task.objects.filter(pk=task.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(ValidationError, match="expired"):
        field.task_accept(origin=Origin(actor=world.clerk), task=task)


def test_finishing_a_task_frees_the_unit_for_the_queue(world, settings):
    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 1}
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    task = Task.objects.get(unit=world.near)
    world.near.members.add(world.clerk)
    who = Origin(actor=world.clerk)

    field.task_accept(origin=who, task=task)
    field.task_start(origin=who, task=task)
    field.task_finish(origin=who, task=task, coverage=0.8)
    offers.offers_make(case=case)

    assert Sector.objects.get(pk=task.sector_id).coverage == pytest.approx(0.8)
    assert Task.objects.filter(unit=world.near, status="offered").count() == 1


def test_stale_task_is_flagged_once(world):
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    task = Task.objects.filter(unit=world.near).first()
    world.near.members.add(world.clerk)
    field.task_accept(origin=Origin(actor=world.clerk), task=task)

    later = timezone.now() + timedelta(hours=2)
    assert offers.tasks_flag_stale(now=later) == 1
    assert offers.tasks_flag_stale(now=later) == 0
    assert Alert.objects.filter(kind="task_stale", task=task).count() == 1


def test_time_growth_adds_a_version_with_more_sectors_and_keeps_the_old(world):
    SubjectProfile.objects.filter(category="adult", terrain="urban").update(speed_kmh=0.1)
    case = open_case(world, last_seen_at=timezone.now() - timedelta(hours=3))
    areas.dispatch_case(case_id=case.pk)
    first = case.areas.get()
    assert first.radii_m[-1] == 300  # 0.1 km/h x 3 h
    sectors_before = case.sectors.count()

    grown = areas.area_grow(case=case, now=timezone.now() + timedelta(hours=1))
    offers.offers_make(case=case)

    assert (grown.version, grown.reason, grown.previous_id) == (2, "time_growth", first.pk)
    assert grown.radii_m[-1] == 400
    first.refresh_from_db()
    assert not first.is_current
    assert case.sectors.count() > sectors_before
    assert areas.area_grow(case=case, now=timezone.now() + timedelta(hours=1, minutes=1)) is None


def test_a_point_outside_every_jurisdiction_is_flagged_not_dispatched(world):
    case = open_case(world, at=(100.0, 30.0), confirmed_outside=True)

    result = areas.dispatch_case(case_id=case.pk)

    assert result.offered == []
    assert not Task.objects.exists()
    assert case.sectors.filter(outside_jurisdiction=False).count() == 0
    assert Alert.objects.filter(case=case, kind="outside").exists()


def test_sectors_in_a_partners_region_are_marked_with_that_partner(world):
    from django.contrib.gis.geos import MultiPolygon

    from accounts.models import Partner
    from search.geo import SRID
    from tests.factories import OrganisationFactory, square

    lon, lat = 117.30, 34.45 + 0.0005  # just north of the test city's border
    neighbour = OrganisationFactory(
        code="NB", jurisdiction=MultiPolygon(square(lon, 34.55, 0.1), srid=SRID)
    )
    partner = Partner.objects.create(
        organisation=neighbour,
        base_url="https://nb.example/api/v1/",
        region=MultiPolygon(square(lon, 34.55, 0.1), srid=SRID),
    )
    case = open_case(world, at=(lon, lat))

    areas.dispatch_case(case_id=case.pk)

    outside = case.sectors.filter(outside_jurisdiction=True)
    assert outside.exists() and case.sectors.filter(outside_jurisdiction=False).exists()
    assert set(outside.values_list("partner", flat=True)) == {partner.pk}
    assert not Task.objects.filter(sector__in=outside).exists()


@pytest.mark.parametrize(
    ("values", "field_name", "message"),
    [
        (
            {"p25_m": 300, "p50_m": 200, "p75_m": 400, "p95_m": 500, "speed_kmh": 2},
            "p95_m",
            "must increase",
        ),
        (
            {"p25_m": 100, "p50_m": 200, "p75_m": 300, "p95_m": 400, "speed_kmh": -1},
            "speed_kmh",
            "above zero",
        ),
    ],
)
def test_a_bad_profile_is_refused_with_a_clear_message(db, values, field_name, message):
    profile = SubjectProfile(category="child", terrain="rural", source="x", **values)

    with pytest.raises(ValidationError) as refused:
        profile.full_clean(validate_unique=False)

    assert any(message in m for m in refused.value.message_dict[field_name])
    with pytest.raises(IntegrityError), transaction.atomic():
        SubjectProfile.objects.filter(category="child", terrain="rural").update(**values)
