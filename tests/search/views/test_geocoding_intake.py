"""A typed address is geocoded by the real geopy client against a local Nominatim look-alike."""

import time

import pytest

from search.geo import GeocodingError, geocode
from search.models import Case
from tests.search.intake_data import form_payload

pytestmark = pytest.mark.django_db

NO_PIN = {"latitude": "", "longitude": ""}


def test_geocode_returns_the_point_and_caches_it(nominatim):
    first = geocode("Dongshan Bus Station")
    second = geocode("  dongshan   BUS station ")

    assert (first.point.x, first.point.y) == pytest.approx((117.452, 34.3012))
    assert second.point.coords == first.point.coords
    assert len(nominatim.queries) == 1  # the second answer came from the cache


def test_geocode_no_result_and_timeout_raise_with_a_reason(settings, nominatim):
    with pytest.raises(GeocodingError) as missing:
        geocode("nowhere at all")
    started = time.monotonic()
    with pytest.raises(GeocodingError) as slow:
        geocode("slow street 9")

    assert missing.value.reason == GeocodingError.NOT_FOUND
    assert slow.value.reason == GeocodingError.TIMEOUT
    # One timeout, not a retry and not the slow answer itself (30 s).
    assert time.monotonic() - started < 2 * settings.GEOCODER["TIMEOUT"]


def test_geocoder_down_is_reported_as_unavailable(settings, nominatim):
    from search import geo

    settings.GEOCODER = {**settings.GEOCODER, "DOMAIN": "127.0.0.1:9"}  # nothing listens there
    geo._geocoder.cache_clear()

    with pytest.raises(GeocodingError) as down:
        geocode("Dongshan Bus Station")

    assert down.value.reason == GeocodingError.UNAVAILABLE


def test_report_with_an_address_stores_the_geocoded_point(client, clerk, nominatim):
    client.force_login(clerk)

    response = client.post("/cases/new/", form_payload(**NO_PIN, address="彭城市中山北路 1 号"))

    assert response.status_code == 302
    case = Case.objects.get()
    assert (case.last_seen_point.x, case.last_seen_point.y) == pytest.approx((117.1861, 34.2667))
    assert case.location_source == "geocoded"
    assert case.last_seen_place == "彭城市中山北路 1 号"


@pytest.mark.parametrize(
    ("address", "message"),
    [("nowhere at all", "No place was found"), ("slow street 9", "took too long")],
)
def test_geocoding_failure_asks_for_a_pin_and_saves_nothing(
    client, clerk, nominatim, address, message
):
    client.force_login(clerk)

    response = client.post("/cases/new/", form_payload(**NO_PIN, address=address))

    assert response.status_code == 400
    errors = response.context["form"].errors["address"]
    assert message in errors[0] and "map" in errors[0]
    assert 'id="pin-map"' in response.content.decode()
    assert Case.objects.count() == 0


def test_pinned_point_wins_over_the_address_and_skips_the_geocoder(client, clerk, nominatim):
    client.force_login(clerk)

    client.post("/cases/new/", form_payload(address="nowhere at all"))

    assert Case.objects.get().location_source == "pin"
    assert nominatim.queries == []
