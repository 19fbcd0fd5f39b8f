"""Sector geometry, like a search area's: indexed for spatial questions, and always valid."""

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from search.geo import SRID
from search.models import SearchArea, Sector
from tests.factories import square
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case

pytestmark = pytest.mark.django_db

LON, LAT = LAST_SEEN
# Its edges cross in the middle: not a polygon PostGIS calls valid.
BOW_TIE = Polygon(
    ((LON, LAT), (LON + 0.01, LAT + 0.01), (LON + 0.01, LAT), (LON, LAT + 0.01), (LON, LAT)),
    srid=SRID,
)


@pytest.fixture
def area():
    case = open_case(build_world())
    now = timezone.now()
    return SearchArea.objects.create(
        case=case,
        version=1,
        reason="manual",
        centre=Point(LON, LAT, srid=SRID),
        centred_at=now,
        computed_at=now,
        radii_m=[200, 400, 600, 800],
        cap_m=800,
        resolution=9,
        boundary=square(LON, LAT, 0.02),
    )


def _sector(area, boundary, h3_index="8940e1c1a2bffff"):
    return Sector.objects.create(
        case=area.case,
        area=area,
        h3_index=h3_index,
        ring=1,
        weight=0.5,
        centroid=Point(LON + 0.005, LAT + 0.005, srid=SRID),
        boundary=boundary,
    )


def test_database_refuses_a_self_crossing_sector_boundary(area):
    assert not BOW_TIE.valid

    with pytest.raises(IntegrityError, match="sector_valid"), transaction.atomic():
        _sector(area, BOW_TIE)

    assert not Sector.objects.exists()


def test_database_refuses_a_valid_sector_changed_to_a_self_crossing_one(area):
    sector = _sector(area, square(LON + 0.005, LAT + 0.005, 0.002))

    with pytest.raises(IntegrityError, match="sector_valid"), transaction.atomic():
        Sector.objects.filter(pk=sector.pk).update(boundary=BOW_TIE)

    sector.refresh_from_db()
    assert sector.boundary.valid


def test_sector_boundary_has_a_named_gist_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE indexname = %s",
            ["sector_boundary_gist"],
        )
        rows = cursor.fetchall()

    assert len(rows) == 1
    table, definition = rows[0]
    assert table == Sector._meta.db_table
    assert "USING gist (boundary)" in definition
