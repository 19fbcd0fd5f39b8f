from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import MultiPolygon

from accounts.models import Partner, PartnerAPIKey
from search.federation.signing import new_secret
from search.geo import SRID
from tests.factories import OrganisationFactory, square
from tests.search.dispatch_world import build_world


def make_partner(code: str, lat: float):
    org = OrganisationFactory(
        code=code, jurisdiction=MultiPolygon(square(117.3, lat, 0.2), srid=SRID)
    )
    secret = new_secret()
    partner = Partner.objects.create(
        organisation=org,
        base_url="http://127.0.0.1:9/api/v1/",
        region=org.jurisdiction,
        signing_secret=secret,
        outbound_api_key="key-they-gave-us",
    )
    _, key = PartnerAPIKey.objects.create_key(partner=partner, name="test")
    return SimpleNamespace(partner=partner, key=key, secret=secret)


@pytest.fixture
def fed(db):
    """Our city, and partner PB to the north with a key and a signing secret."""
    world = build_world()
    pb = make_partner("PB", 34.65)
    return SimpleNamespace(world=world, coordinator=world.clerk, **vars(pb))
