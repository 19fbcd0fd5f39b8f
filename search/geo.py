"""Spatial constants and helpers shared by every app: one SRID, points in WGS-84."""

from django.contrib.gis.geos import Point

# WGS-84: what phones, maps and GeoJSON speak. Stored points are geography so distances are metres.
SRID = 4326


def make_point(*, lon: float, lat: float) -> Point:
    """Return a WGS-84 point, refusing coordinates outside the globe."""
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside -180..180")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside -90..90")
    return Point(lon, lat, srid=SRID)
