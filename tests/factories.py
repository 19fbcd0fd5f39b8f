"""Factories for the domain models; geometry defaults sit inside the demo city."""

from datetime import timedelta

import factory
from django.contrib.auth.models import Group
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.utils import timezone

from accounts.models import Organisation, Unit, User
from search.geo import SRID


def square(lon: float, lat: float, half: float) -> Polygon:
    """Return a square polygon centred on (lon, lat) with the given half-width in degrees."""
    return Polygon.from_bbox((lon - half, lat - half, lon + half, lat + half))


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Centre {n}")
    code = factory.Sequence(lambda n: "T" + "".join(chr(65 + int(d)) for d in f"{n:03d}"))
    level = Organisation.Level.CITY
    jurisdiction = factory.LazyFunction(lambda: MultiPolygon(square(117.3, 34.25, 0.3), srid=SRID))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organisation = factory.SubFactory(OrganisationFactory)
    password = factory.django.Password("pw-for-tests")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        # Groups come from a data migration, but transactional tests truncate them: recreate.
        for role in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=role)[0])


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Unit {n}")
    kind = Unit.Kind.PATROL
    home_area = factory.LazyFunction(lambda: square(117.3, 34.25, 0.05))
    last_position = factory.LazyFunction(lambda: Point(117.3, 34.25, srid=SRID))
    last_position_at = factory.LazyFunction(timezone.now)


# --- The search: cases, areas, sectors, tasks and aid requests -----------------------------------
# Rows as the services leave them, made directly: for tests that need many of them (query counts)
# or one in a given state. Tests of opening a case go through the intake service instead.

CENTRE = (117.3, 34.25)  # lon, lat inside OrganisationFactory's jurisdiction


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "search.Case"

    organisation = factory.SubFactory(OrganisationFactory)
    reference = factory.Sequence(lambda n: f"TF-2026-{n:06d}")
    subject_name = factory.Sequence(lambda n: f"Subject {n}")
    category = "adult"
    estimated_age = 40
    last_seen_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))
    last_seen_point = factory.LazyFunction(lambda: Point(*CENTRE, srid=SRID))
    location_source = "pin"
    reporter_name = "reporter"
    reporter_phone = "+8613800138000"
    report_channel = "other"
    created_by = factory.SubFactory(
        UserFactory, organisation=factory.SelfAttribute("..organisation")
    )


class SearchAreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "search.SearchArea"

    case = factory.SubFactory(CaseFactory)
    version = 1
    reason = "initial"
    centre = factory.LazyAttribute(lambda a: a.case.last_seen_point)
    centred_at = factory.LazyAttribute(lambda a: a.case.last_seen_at)
    computed_at = factory.LazyFunction(timezone.now)
    radii_m = factory.LazyFunction(lambda: [300, 600, 900, 1200])
    cap_m = 1200
    resolution = 9
    boundary = factory.LazyAttribute(
        lambda a: square(a.centre.x, a.centre.y, 0.01),
    )


def _cell(n: int) -> str:
    import h3

    # Cells around the centre, a different one for each sector made (469 before they repeat).
    disk = sorted(h3.grid_disk(h3.latlng_to_cell(CENTRE[1], CENTRE[0], 9), 12))
    return disk[n % len(disk)]


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "search.Sector"

    area = factory.SubFactory(SearchAreaFactory)
    case = factory.LazyAttribute(lambda s: s.area.case)
    h3_index = factory.Sequence(_cell)
    ring = 1
    weight = 0.1
    status = "unassigned"
    centroid = factory.LazyAttribute(lambda s: Point(*_lonlat(s.h3_index), srid=SRID))
    boundary = factory.LazyAttribute(lambda s: _boundary(s.h3_index))


def _lonlat(cell: str) -> tuple[float, float]:
    import h3

    lat, lon = h3.cell_to_latlng(cell)
    return lon, lat


def _boundary(cell: str) -> Polygon:
    from django.contrib.gis.geos import GEOSGeometry

    from search.geo import cell_wkt

    return GEOSGeometry(cell_wkt(cell), srid=SRID)


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "search.Task"

    sector = factory.SubFactory(SectorFactory)
    case = factory.LazyAttribute(lambda t: t.sector.case)
    unit = factory.SubFactory(UnitFactory)
    status = "offered"
    rank = 1
    offered_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=3))
    last_activity_at = factory.LazyFunction(timezone.now)


class AidRequestFactory(factory.django.DjangoModelFactory):
    """An inbound request from a partner, as the inbox stores it (no case until accepted)."""

    class Meta:
        model = "search.MutualAidRequest"

    direction = "inbound"
    partner = None  # give one: Partner rows need credentials (tests/search/federation/conftest)
    status = "acknowledged"
    reason = "Our search reaches your ground."
    summary = factory.LazyFunction(dict)
    area = factory.LazyFunction(lambda: MultiPolygon(square(*CENTRE, 0.05), srid=SRID))
    status_changed_at = factory.LazyFunction(timezone.now)
