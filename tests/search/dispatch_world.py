"""A small, exact world for dispatch tests: one city, a few units at known places."""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.gis.geos import MultiPolygon, Point
from django.utils import timezone

from accounts.models import Organisation, Unit, User
from search.geo import SRID
from search.models import Case, SubjectProfile
from search.services import intake
from search.services.timeline import Origin
from tests.factories import OrganisationFactory, UnitFactory, UserFactory, square
from tests.helpers import wait_for

LAST_SEEN = (117.30, 34.25)  # lon, lat
# A small adult profile: rings of 200/400/600/800 m make a few dozen res-9 cells.
PROFILE = {"p25_m": 200, "p50_m": 400, "p75_m": 600, "p95_m": 800, "speed_kmh": 3.0}


@dataclass
class World:
    city: Organisation
    clerk: User
    near: Unit
    middle: Unit
    far: Unit
    elsewhere: Unit
    busy: Unit
    boat: Unit


def build_world() -> World:
    SubjectProfile.objects.update_or_create(
        category="adult", terrain="urban", defaults={**PROFILE, "source": "test"}
    )
    lon, lat = LAST_SEEN
    city = OrganisationFactory(
        code="TC", jurisdiction=MultiPolygon(square(lon, lat, 0.2), srid=SRID)
    )
    clerk = UserFactory(organisation=city, roles=["clerk", "coordinator"])
    covering = square(lon, lat, 0.02)  # about 2 km around the last-seen point

    def unit(name, dx, **extra):
        return UnitFactory(
            organisation=city,
            name=name,
            home_area=extra.pop("home_area", covering),
            last_position=Point(lon + dx, lat, srid=SRID),
            **extra,
        )

    return World(
        city=city,
        clerk=clerk,
        near=unit("near", 0.001),
        middle=unit("middle", 0.005),
        far=unit("far", 0.010),
        elsewhere=unit("elsewhere", 0.0005, home_area=square(lon + 0.1, lat, 0.02)),
        busy=unit("busy", 0.0001, availability=Unit.Availability.BUSY),
        boat=unit("boat", 0.015, kind=Unit.Kind.BOAT, capabilities=["boat"]),
    )


def open_case(world: World, **values) -> Case:
    lon, lat = values.pop("at", LAST_SEEN)
    confirmed_outside = values.pop("confirmed_outside", False)
    base = {
        "subject_name": "测试",
        "category": "adult",
        "estimated_age": 40,
        "last_seen_at": timezone.now() - timedelta(hours=2),
        "last_seen_point": Point(lon, lat, srid=SRID),
        "location_source": "pin",
        "reporter_name": "r",
        "reporter_phone": "+8613800138000",
        "report_channel": "other",
    }
    base.update(values)
    return intake.case_open(
        origin=Origin(actor=world.clerk),
        data=intake.CaseInput(base, confirmed_outside=confirmed_outside),
    )


def worker_round_trip(world: World, timeout: float = 120) -> Case:
    """Open a case and wait until the real worker has computed its area: everything queued
    before it has then run (one worker process, tasks taken in order)."""
    case = open_case(world)
    wait_for(lambda: case.areas.exists(), timeout=timeout)
    return case
