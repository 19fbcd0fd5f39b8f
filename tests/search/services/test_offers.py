"""Offers: matching, the per-unit cap, declines, expiry, staleness (services called directly)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from search.choices import SectorStatus, TaskStatus
from search.models import Alert, Sector, Task
from search.services import areas, field, offers
from search.services.timeline import Origin
from tests.search.dispatch_world import open_case

pytestmark = pytest.mark.django_db


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


# --- Query counts: one case or fifty, the same number of queries ---------------------------------


def _tasks(n: int, *, status: str, **fields) -> list:
    from tests.factories import CaseFactory, SectorFactory, TaskFactory
    from tests.search.services.querycount import city

    organisation, unit = city()
    return [
        TaskFactory(
            sector=SectorFactory(area__case=CaseFactory(organisation=organisation)),
            unit=unit,
            status=status,
            **fields,
        )
        for _ in range(n)
    ]


def test_tasks_cancel_costs_the_same_for_one_case_or_fifty():
    from tests.search.services.querycount import same_cost

    def make(n):
        ids = [t.pk for t in _tasks(n, status=TaskStatus.ACCEPTED)]
        now = timezone.now()
        tasks = Task.objects.filter(pk__in=ids)
        return lambda: offers.tasks_cancel(tasks=tasks, reason="r", now=now)

    one, fifty = same_cost(make)
    assert one == fifty
    assert Task.objects.filter(status=TaskStatus.CANCELLED).count() == 51
    assert Alert.objects.filter(kind="tasks_cancelled").count() == 51


def test_offers_expire_costs_the_same_for_one_case_or_fifty():
    from tests.search.services.querycount import same_cost

    def make(n):
        _tasks(n, status=TaskStatus.OFFERED, expires_at=timezone.now() - timedelta(seconds=1))
        return offers.offers_expire

    one, fifty = same_cost(make)
    assert one == fifty
    assert Task.objects.filter(status=TaskStatus.EXPIRED).count() == 51


def test_tasks_flag_stale_costs_the_same_for_one_case_or_fifty():
    from tests.search.services.querycount import same_cost

    def make(n):
        idle_since = timezone.now() - timedelta(days=1)
        _tasks(n, status=TaskStatus.IN_PROGRESS, last_activity_at=idle_since)
        return offers.tasks_flag_stale

    one, fifty = same_cost(make)
    assert one == fifty
    assert Alert.objects.filter(kind="task_stale").count() == 51


def test_dispatching_a_case_costs_the_same_for_one_waiting_sector_or_fifty(settings):
    from tests.factories import CaseFactory, SearchAreaFactory, SectorFactory
    from tests.search.services.querycount import city, same_cost

    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 100}

    def make(n):
        organisation, _ = city()
        area = SearchAreaFactory(case=CaseFactory(organisation=organisation))
        SectorFactory.create_batch(n, area=area)
        return lambda: areas.dispatch_case(case_id=area.case_id)

    one, fifty = same_cost(make)
    assert one == fifty
    assert Task.objects.filter(status=TaskStatus.OFFERED).count() == 51
