"""Spatial reads on units, against real PostGIS."""

import pytest
from django.contrib.gis.geos import Point
from django.db import IntegrityError

from accounts.models import Unit
from search.geo import SRID
from tests.factories import UnitFactory, square

pytestmark = pytest.mark.django_db


def test_covering_returns_exactly_the_units_whose_home_area_contains_the_point():
    west = UnitFactory(home_area=square(117.10, 34.20, 0.05))
    overlap = UnitFactory(home_area=square(117.14, 34.20, 0.05))
    UnitFactory(home_area=square(117.40, 34.20, 0.05))
    point = Point(117.12, 34.20, srid=SRID)

    found = set(Unit.objects.covering(point))

    assert found == {west, overlap}


def test_covering_agrees_with_geos_on_the_demo_world(demo_world):
    units = list(Unit.objects.all())
    probes = [
        Point(117.0 + i * 0.06, 34.02 + j * 0.06, srid=SRID) for i in range(11) for j in range(8)
    ]

    for point in probes:
        expected = {u.pk for u in units if u.home_area.contains(point)}
        assert set(Unit.objects.covering(point).values_list("pk", flat=True)) == expected


def test_available_leaves_out_busy_and_off_duty_units():
    ready = UnitFactory()
    UnitFactory(availability=Unit.Availability.BUSY)
    UnitFactory(availability=Unit.Availability.OFF_DUTY)

    assert list(Unit.objects.available()) == [ready]


def test_database_refuses_an_invalid_home_area():
    from django.contrib.gis.geos import Polygon

    bow_tie = Polygon(((117.0, 34.0), (117.1, 34.1), (117.1, 34.0), (117.0, 34.1), (117.0, 34.0)))

    with pytest.raises(IntegrityError, match="unit_home_area_valid"):
        UnitFactory(home_area=bow_tie)


def test_the_dispatch_sql_and_the_queryset_take_the_same_units(demo_world):
    """UNIT_CAN_TAKE_SQL (many points at once) and available().covering(point) are one rule."""
    from django.db import connection

    from accounts.selectors import UNIT_CAN_TAKE_SQL

    Unit.objects.filter(
        pk__in=list(Unit.objects.order_by("pk").values_list("pk", flat=True))[::3]
    ).update(availability=Unit.Availability.BUSY)
    condition = UNIT_CAN_TAKE_SQL.format(
        unit="u", point="ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)"
    )
    probes = [
        Point(117.0 + i * 0.06, 34.02 + j * 0.06, srid=SRID) for i in range(11) for j in range(8)
    ]
    taken_somewhere = 0
    for point in probes:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT u.id FROM accounts_unit u WHERE {condition}",  # noqa: S608 - constant
                {"available": Unit.Availability.AVAILABLE, "x": point.x, "y": point.y},
            )
            by_sql = {row[0] for row in cursor.fetchall()}
        by_queryset = set(Unit.objects.available().covering(point).values_list("pk", flat=True))
        assert by_sql == by_queryset
        taken_somewhere += bool(by_sql)
    assert taken_somewhere > 5  # the probes meet units, so agreeing means something
