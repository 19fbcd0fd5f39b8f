"""Build the demo world; running it again changes nothing."""

import random
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts import demo
from accounts.models import Capability, Organisation, Partner, Unit, User
from search.geo import SRID

KIND_CAPABILITIES = {
    Unit.Kind.PATROL: [Capability.SEARCH, Capability.VEHICLE],
    Unit.Kind.STATION: [Capability.SEARCH],
    Unit.Kind.VOLUNTEER: [Capability.SEARCH, Capability.MEDICAL],
    Unit.Kind.K9: [Capability.SEARCH, Capability.K9],
    Unit.Kind.DRONE: [Capability.DRONE],
    Unit.Kind.BOAT: [Capability.BOAT, Capability.SEARCH],
}
KIND_NAMES = {
    Unit.Kind.PATROL: "巡逻 Patrol",
    Unit.Kind.STATION: "派出所 Station",
    Unit.Kind.VOLUNTEER: "志愿队 Volunteers",
    Unit.Kind.K9: "警犬 K9",
    Unit.Kind.DRONE: "无人机 Drone",
    Unit.Kind.BOAT: "水上 Boat",
}
KIND_CYCLE = [
    Unit.Kind.PATROL,
    Unit.Kind.PATROL,
    Unit.Kind.STATION,
    Unit.Kind.VOLUNTEER,
    Unit.Kind.K9,
    Unit.Kind.DRONE,
    Unit.Kind.BOAT,
]


def box(bbox: tuple[float, float, float, float]) -> Polygon:
    """Return the rectangle (west, south, east, north) as a polygon."""
    return Polygon.from_bbox(bbox)


class Command(BaseCommand):
    help = "Create the demo city, its counties, ~30 units, one user per role and a partner city."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off (the demo passwords are public).",
        )

    def handle(self, *args: Any, allow_production: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to create demo users with public passwords while DEBUG is off; "
                "pass --allow-production if this really is a demo server."
            )
        with transaction.atomic():
            created = self.seed()
        if options["verbosity"] < 1:
            return
        self.stdout.write(
            f"seed_demo: {created} objects created; "
            f"{Organisation.objects.count()} organisations, {Unit.objects.count()} units, "
            f"{User.objects.count()} users, {Partner.objects.count()} partners"
        )

    def seed(self) -> int:
        created = 0
        city, new = Organisation.objects.get_or_create(
            code=demo.CITY.code,
            defaults={
                "name": demo.CITY.name,
                "level": Organisation.Level.CITY,
                "jurisdiction": MultiPolygon(box(demo.CITY.bbox), srid=SRID),
            },
        )
        created += new
        rng = random.Random(demo.RANDOM_SEED)
        now = timezone.now()
        first_unit = None
        for county_area in demo.COUNTIES:
            county, new = Organisation.objects.get_or_create(
                code=county_area.code,
                defaults={
                    "name": county_area.name,
                    "level": Organisation.Level.COUNTY,
                    "parent": city,
                    "jurisdiction": MultiPolygon(box(county_area.bbox), srid=SRID),
                },
            )
            created += new
            county_box = box(county_area.bbox)
            west, south, east, north = county_area.bbox
            for n in range(1, demo.UNITS_PER_COUNTY + 1):
                # Draw every number whether or not the unit exists, so later units stay the same.
                lon, lat = rng.uniform(west, east), rng.uniform(south, north)
                jitter = (rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01))
                kind = KIND_CYCLE[(n - 1) % len(KIND_CYCLE)]
                half = demo.HOME_AREA_HALF_WIDTH
                home = box((lon - half, lat - half, lon + half, lat + half)).intersection(
                    county_box
                )
                unit, new = Unit.objects.get_or_create(
                    organisation=county,
                    name=f"{county_area.code}-{n:02d} {KIND_NAMES[kind]}",
                    defaults={
                        "kind": kind,
                        # Two overlapping rectangles meet in a rectangle.
                        "home_area": cast(Polygon, home),
                        "capabilities": [str(c) for c in KIND_CAPABILITIES[kind]],
                        "last_position": Point(lon + jitter[0], lat + jitter[1], srid=SRID),
                        "last_position_at": now - timedelta(minutes=rng.randint(1, 90)),
                    },
                )
                created += new
                first_unit = first_unit or unit

        desks = {
            code: Organisation.objects.get(code=code) for code in set(demo.DEMO_USER_DESKS.values())
        }
        for username, (role, password, full_name) in demo.DEMO_USERS.items():
            desk = (
                desks[demo.DEMO_USER_DESKS[username]] if username in demo.DEMO_USER_DESKS else city
            )
            user, new = User.objects.get_or_create(
                username=username,
                defaults={"organisation": desk, "first_name": full_name},
            )
            if new:
                user.set_password(password)
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get_or_create(name=role)[0])
                if role == "field" and first_unit is not None:
                    first_unit.members.add(user)
            created += new

        admin_name, admin_password = demo.DEMO_ADMIN
        if not User.objects.filter(username=admin_name).exists():
            User.objects.create_superuser(admin_name, password=admin_password, organisation=city)
            created += 1

        partner_org, new = Organisation.objects.get_or_create(
            code=demo.PARTNER.code,
            defaults={
                "name": demo.PARTNER.name,
                "level": Organisation.Level.CITY,
                "jurisdiction": MultiPolygon(box(demo.PARTNER.bbox), srid=SRID),
            },
        )
        created += new
        _, new = Partner.objects.get_or_create(
            organisation=partner_org,
            defaults={
                "base_url": demo.PARTNER_BASE_URL,
                "region": MultiPolygon(box(demo.PARTNER.bbox), srid=SRID),
                "allowed_fields": ["subject_name", "category", "last_seen_at", "last_seen_point"],
            },
        )
        created += new
        return created
