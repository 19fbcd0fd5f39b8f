"""Search areas: rings from the profile, sectors, growth, jurisdiction (called directly)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from search.models import Alert, SubjectProfile, Task
from search.services import areas, offers
from tests.search.dispatch_world import open_case

pytestmark = pytest.mark.django_db


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


def test_time_growth_adds_a_version_with_more_sectors_and_keeps_the_old(world):
    SubjectProfile.objects.filter(category="adult", terrain="urban").update(speed_kmh=0.1)
    case = open_case(world, last_seen_at=timezone.now() - timedelta(hours=3))
    areas.dispatch_case(case_id=case.pk)
    first = case.areas.get()
    assert first.radii_m[-1] == 300  # 0.1 km/h x 3 h
    sectors_before = case.sectors.count()

    assert areas.areas_grow(now=timezone.now() + timedelta(hours=1)) == [case.pk]
    grown = case.areas.get(is_current=True)
    offers.offers_make(case=case)

    assert (grown.version, grown.reason, grown.previous_id) == (2, "time_growth", first.pk)
    assert grown.radii_m[-1] == 400
    first.refresh_from_db()
    assert not first.is_current
    assert case.sectors.count() > sectors_before
    assert areas.areas_grow(now=timezone.now() + timedelta(hours=1, minutes=1)) == []


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


# --- Query counts -------------------------------------------------------------------------------


def test_deciding_which_areas_grow_costs_the_same_for_one_case_or_fifty(world):
    from tests.factories import CaseFactory, SearchAreaFactory
    from tests.search.services.querycount import same_cost

    def make(n):
        # Areas just computed with their full rings: none has grown enough to recompute.
        for _ in range(n):
            SearchAreaFactory(
                case=CaseFactory(organisation=world.city), radii_m=[10**6] * 4, cap_m=10**6
            )
        return areas.areas_grow

    one, fifty = same_cost(make)
    assert one == fifty


def test_growing_one_area_among_fifty_costs_what_growing_it_alone_does(world):
    from tests.factories import CaseFactory, SearchAreaFactory
    from tests.search.services.querycount import same_cost

    def make(n):
        for _ in range(n - 1):
            SearchAreaFactory(
                case=CaseFactory(organisation=world.city), radii_m=[10**6] * 4, cap_m=10**6
            )
        due = open_case(world, last_seen_at=timezone.now() - timedelta(hours=1))
        areas.dispatch_case(case_id=due.pk)
        later = timezone.now() + timedelta(hours=3)
        return lambda: areas.areas_grow(now=later)

    one, fifty = same_cost(make)
    assert one == fifty
