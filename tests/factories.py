"""Factories for the domain models; geometry defaults sit inside the demo city."""

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
