"""Valid intake input, for the form and for the service, with overrides per test."""

from datetime import timedelta

from django.contrib.gis.geos import Point
from django.utils import timezone

from search.geo import SRID

# Inside 东山县 Dongshan County of the demo city.
PIN_LAT, PIN_LON = 34.30, 117.45


def form_payload(**overrides) -> dict:
    seen = timezone.localtime(timezone.now() - timedelta(hours=2))
    data = {
        "subject_name": "王小明",
        "sex": "male",
        "date_of_birth": "2019-05-01",
        "estimated_age": "",
        "height_cm": "110",
        "build": "slim",
        "hair": "short black",
        "clothing": "red jacket, blue trousers",
        "distinguishing_marks": "",
        "languages": "普通话",
        "category": "young_child",
        "medical_needs": "asthma",
        "medication": "",
        "weather_exposure": "moderate",
        "last_seen_at": seen.strftime("%Y-%m-%dT%H:%M"),
        "circumstances": "Left the playground alone.",
        "reporter_name": "王芳",
        "reporter_phone": "138 0013 8000",
        "reporter_relation": "mother",
        "report_channel": "phone_110",
        "latitude": str(PIN_LAT),
        "longitude": str(PIN_LON),
        "address": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def service_values(**overrides) -> dict:
    values = {
        "subject_name": "李华",
        "sex": "female",
        "estimated_age": 34,
        "category": "adult",
        "weather_exposure": "none",
        "last_seen_at": timezone.now() - timedelta(hours=1),
        "last_seen_point": Point(PIN_LON, PIN_LAT, srid=SRID),
        "last_seen_place": "",
        "location_source": "pin",
        "reporter_name": "李明",
        "reporter_phone": "+8613800138000",
        "report_channel": "walk_in",
    }
    values.update(overrides)
    return values
