"""Spatial constants and helpers: one SRID, points in WGS-84, and the one geopy wrapper."""

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Point
from django.core.cache import cache as django_cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

# WGS-84: what phones, maps and GeoJSON speak. Stored points are geography so distances are metres.
SRID = 4326


def geometry_from_geojson(value, *, kinds: tuple[str, ...]) -> GEOSGeometry:
    """Return a 2D, non-empty, valid WGS-84 geometry of one of these kinds from GeoJSON, or
    raise ValidationError saying what is wrong. Every GeoJSON anyone gives goes through here."""
    if not isinstance(value, dict):
        raise ValidationError(gettext("Give a GeoJSON geometry object."), code="geojson")
    if "crs" in value:
        raise ValidationError(gettext("Coordinates are WGS-84 only; leave out 'crs'."), code="crs")
    if value.get("type") not in kinds:
        raise ValidationError(
            gettext("Give a GeoJSON %(kinds)s.") % {"kinds": " or ".join(kinds)}, code="geojson"
        )
    try:
        geometry = GEOSGeometry(json.dumps(value), srid=SRID)
    except (GEOSException, GDALException, ValueError, TypeError) as exc:
        raise ValidationError(
            gettext("Not valid GeoJSON: %(e)s") % {"e": exc}, code="geojson"
        ) from exc
    if geometry.empty:
        raise ValidationError(gettext("The geometry is empty."), code="empty")
    if geometry.hasz:
        # Our columns are 2D; a height would fail in the database instead of here.
        raise ValidationError(gettext("Give 2D coordinates: [longitude, latitude]."), code="3d")
    for lon, lat in _coords(geometry):
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationError(
                gettext("Coordinates must be [longitude -180..180, latitude -90..90]."),
                code="range",
            )
    if not geometry.valid:
        raise ValidationError(
            gettext("The geometry is not valid: %(reason)s") % {"reason": geometry.valid_reason},
            code="invalid",
        )
    return geometry


def _coords(geometry):
    if geometry.geom_type == "Point":
        yield geometry.coords[:2]
        return
    for part in geometry if geometry.geom_type.startswith("Multi") else [geometry]:
        for ring in part:
            for xy in ring:
                yield xy[:2]


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
    from geopy.adapters import URLLibAdapter
    from geopy.extra.rate_limiter import RateLimiter
    from geopy.geocoders import get_geocoder_for_service

    conf = settings.GEOCODER
    cls = get_geocoder_for_service(conf["PROVIDER"])
    # The stdlib adapter, named: with requests installed geopy would pick an adapter that
    # retries on its own and reports a timeout as "unavailable".
    kwargs = {
        "timeout": conf["TIMEOUT"],
        "scheme": conf["SCHEME"],
        "adapter_factory": URLLibAdapter,
    }
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
    cached = _cache_call(django_cache.get, key)
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
    _cache_call(
        django_cache.set,
        key,
        (location.longitude, location.latitude, location.address),
        settings.GEOCODER["CACHE_SECONDS"],
    )
    return result


def _cache_call(method, *args):
    """Call the cache; with the cache down, geocoding goes on without it."""
    try:
        return method(*args)
    except Exception:  # noqa: BLE001 - the cache is a help, never a condition
        logger.warning("geocoder cache unavailable")
        return None


# --- Rings and sectors --------------------------------------------------------------------------

# A sector should be a piece of ground one team can search in a shift: the finest H3 resolution
# whose cell count stays under MAX_SECTORS, never finer than 9 (about 0.1 km², 200 m edge) nor
# coarser than 7 (about 5 km²).
FINEST_RESOLUTION = 9
COARSEST_RESOLUTION = 7
MAX_SECTORS = 2_500
# Share of people found in each ring (0-25 %, 25-50 %, 50-75 %, 75-95 %); the last 5 % lie
# beyond the 95 % ring and are not searched by default.
RING_SHARES = (0.25, 0.25, 0.25, 0.20)
CIRCLE_SEGMENTS = 64


@dataclass(frozen=True)
class Cell:
    h3_index: str
    lat: float
    lon: float
    ring: int  # 1..len(radii)
    weight: float


def choose_resolution(radius_m: float) -> int:
    """Return the finest resolution at which a disc of this radius stays under MAX_SECTORS."""
    import math

    import h3

    area_km2 = math.pi * (radius_m / 1000) ** 2
    for res in range(FINEST_RESOLUTION, COARSEST_RESOLUTION - 1, -1):
        if area_km2 / h3.average_hexagon_area(res, "km^2") <= MAX_SECTORS:
            return res
    return COARSEST_RESOLUTION


def cells_in_rings(*, lat: float, lon: float, radii_m: list[float], resolution: int) -> list[Cell]:
    """Return the H3 cells whose centres lie within the outer radius, each with its ring and weight.

    A ring's share of the probability is spread evenly over its cells, so a cell's weight is a
    density: the inner rings, smaller for the same share, weigh more per cell.
    """
    import math

    import h3

    outer = radii_m[-1]
    centre_cell = h3.latlng_to_cell(lat, lon, resolution)
    # Each ring of grid_disk reaches at least 1.5 edge lengths further (towards the hexagons'
    # corners; sqrt(3) edges only towards their sides), and cells vary in size across the
    # grid: one ring more than that covers every cell whose centre lies within the radius.
    spacing = h3.average_hexagon_edge_length(resolution, "m") * 1.5
    k = math.ceil(outer / spacing) + 1
    members: list[tuple[str, float, float, int]] = []
    for cell in h3.grid_disk(centre_cell, k):
        clat, clon = h3.cell_to_latlng(cell)
        distance = h3.great_circle_distance((lat, lon), (clat, clon), "m")
        if distance > outer:
            continue
        ring = next(i for i, r in enumerate(radii_m, start=1) if distance <= r)
        members.append((cell, clat, clon, ring))
    if not members:  # an area smaller than one cell is that cell
        clat, clon = h3.cell_to_latlng(centre_cell)
        members = [(centre_cell, clat, clon, 1)]
    shares = ring_shares(radii_m)
    counts = {ring: 0 for ring in range(1, len(radii_m) + 1)}
    for *_, ring in members:
        counts[ring] += 1
    # Shares of empty rings (capped to nothing) move outward to the nearest ring with cells.
    carried, weights = 0.0, {}
    for ring in sorted(counts):
        carried += shares[ring - 1]
        if counts[ring]:
            weights[ring], carried = carried / counts[ring], 0.0
    if carried:
        last = max(r for r in counts if counts[r])
        weights[last] += carried / counts[last]
    return [Cell(cell, clat, clon, ring, weights[ring]) for cell, clat, clon, ring in members]


def ring_shares(radii_m: list[float]) -> list[float]:
    """Return each ring's share, normalised so the searched rings hold the whole probability."""
    shares = list(RING_SHARES[: len(radii_m)])
    total = sum(shares)
    return [s / total for s in shares]


def cell_wkt(h3_index: str) -> str:
    """Return the cell's boundary as WKT (lon lat order), for bulk inserts."""
    import h3

    ring = [f"{lng!r} {lat!r}" for lat, lng in h3.cell_to_boundary(h3_index)]
    return f"POLYGON(({', '.join(ring)}, {ring[0]}))"


def circle(*, lat: float, lon: float, radius_m: float):
    """Return a polygon approximating a circle on the sphere (for maps and region checks)."""
    import math

    from django.contrib.gis.geos import Polygon

    earth = 6_371_008.8
    d = radius_m / earth
    lat1, lon1 = math.radians(lat), math.radians(lon)
    points = []
    for i in range(CIRCLE_SEGMENTS):
        bearing = 2 * math.pi * i / CIRCLE_SEGMENTS
        lat2 = math.asin(
            math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(bearing)
        )
        lon2 = lon1 + math.atan2(
            math.sin(bearing) * math.sin(d) * math.cos(lat1),
            math.cos(d) - math.sin(lat1) * math.sin(lat2),
        )
        points.append((math.degrees(lon2), math.degrees(lat2)))
    points.append(points[0])
    return Polygon(points, srid=SRID)


COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def distance_and_bearing(*, from_lat: float, from_lon: float, to_lat: float, to_lon: float):
    """Return (metres, compass point) from one WGS-84 position to another, on the sphere."""
    import math

    import h3

    metres = h3.great_circle_distance((from_lat, from_lon), (to_lat, to_lon), "m")
    phi1, phi2 = math.radians(from_lat), math.radians(to_lat)
    dlon = math.radians(to_lon - from_lon)
    x = math.sin(dlon) * math.cos(phi2)
    y = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlon)
    bearing = (math.degrees(math.atan2(x, y)) + 360) % 360
    return metres, COMPASS[round(bearing / 45) % 8]
