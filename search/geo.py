"""Spatial constants and helpers: one SRID, points in WGS-84, and the one geopy wrapper."""

import hashlib
import logging
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.cache import cache as django_cache

logger = logging.getLogger(__name__)

# WGS-84: what phones, maps and GeoJSON speak. Stored points are geography so distances are metres.
SRID = 4326


def make_point(*, lon: float, lat: float) -> Point:
    """Return a WGS-84 point, refusing coordinates outside the globe."""
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside -180..180")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside -90..90")
    return Point(lon, lat, srid=SRID)


class GeocodingError(Exception):
    """The address could not be turned into a point; `reason` says why, for the clerk."""

    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class GeocodeResult:
    point: Point
    address: str


@cache
def _geocoder():
    """Return the configured geopy geocoder, rate-limited, built once per process."""
    from geopy.extra.rate_limiter import RateLimiter
    from geopy.geocoders import get_geocoder_for_service

    conf = settings.GEOCODER
    cls = get_geocoder_for_service(conf["PROVIDER"])
    kwargs = {"timeout": conf["TIMEOUT"], "scheme": conf["SCHEME"]}
    if conf["PROVIDER"] == "nominatim":
        kwargs.update(domain=conf["DOMAIN"], user_agent=conf["USER_AGENT"])
    elif conf["API_KEY"]:
        kwargs["api_key"] = conf["API_KEY"]
    # No retries and no swallowed errors: the clerk must hear at once that it failed and pin
    # the map instead; a form never waits through a retry loop.
    return RateLimiter(
        cls(**kwargs).geocode,
        min_delay_seconds=conf["MIN_DELAY_SECONDS"],
        max_retries=0,
        swallow_exceptions=False,
    )


def _cache_key(address: str) -> str:
    conf = settings.GEOCODER
    normalised = " ".join(address.split()).casefold()
    digest = hashlib.sha256(
        f"{conf['PROVIDER']}|{conf['DOMAIN']}|{normalised}".encode()
    ).hexdigest()
    return f"geocode:{digest}"


def geocode(address: str) -> GeocodeResult:
    """Return the point for an address, from the cache or the configured geocoder."""
    from geopy.exc import GeocoderServiceError, GeocoderTimedOut

    key = _cache_key(address)
    cached = django_cache.get(key)
    if cached:
        lon, lat, label = cached
        return GeocodeResult(point=make_point(lon=lon, lat=lat), address=label)
    try:
        location = _geocoder()(address)
    except GeocoderTimedOut as exc:
        raise GeocodingError(GeocodingError.TIMEOUT, str(exc)) from exc
    except GeocoderServiceError as exc:
        raise GeocodingError(GeocodingError.UNAVAILABLE, str(exc)) from exc
    except OSError as exc:  # DNS failure, refused connection below geopy's own wrapping
        raise GeocodingError(GeocodingError.UNAVAILABLE, str(exc)) from exc
    if location is None:
        raise GeocodingError(GeocodingError.NOT_FOUND)
    result = GeocodeResult(
        point=make_point(lon=location.longitude, lat=location.latitude), address=location.address
    )
    django_cache.set(
        key,
        (location.longitude, location.latitude, location.address),
        settings.GEOCODER["CACHE_SECONDS"],
    )
    return result
