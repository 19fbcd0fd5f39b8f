"""Spatial rules at their edges (search/geo.py): GeoJSON checks, rings, cells, bearings."""

import math

import h3
import pytest
from django.core.exceptions import ValidationError

from search import geo

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[117.0, 34.0], [117.1, 34.0], [117.1, 34.1], [117.0, 34.1], [117.0, 34.0]]],
}


def refusal(value, kinds=("Polygon",)) -> tuple[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        geo.geometry_from_geojson(value, kinds=kinds)
    return info.value.code, info.value.messages


def test_a_valid_polygon_comes_back_in_wgs84():
    polygon = geo.geometry_from_geojson(SQUARE, kinds=("Polygon",))
    assert polygon.srid == geo.SRID == 4326
    assert polygon.geom_type == "Polygon" and polygon.valid
    assert polygon.extent == (117.0, 34.0, 117.1, 34.1)


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("not a dict", "geojson", "Give a GeoJSON geometry object."),
        ({**SQUARE, "crs": {}}, "crs", "Coordinates are WGS-84 only; leave out 'crs'."),
        ({"type": "Point", "coordinates": [1, 2]}, "geojson", "Give a GeoJSON Polygon."),
        ({"type": "Polygon", "coordinates": [[]]}, "empty", "The geometry is empty."),
        (
            {"type": "Polygon", "coordinates": [[[1, 1, 5], [2, 1, 5], [2, 2, 5], [1, 1, 5]]]},
            "3d",
            "Give 2D coordinates: [longitude, latitude].",
        ),
        (
            {"type": "Polygon", "coordinates": [[[179, 1], [181, 1], [181, 2], [179, 1]]]},
            "range",
            "Coordinates must be [longitude -180..180, latitude -90..90].",
        ),
        (
            {"type": "Polygon", "coordinates": [[[1, 89], [2, 89], [2, 91], [1, 89]]]},
            "range",
            "Coordinates must be [longitude -180..180, latitude -90..90].",
        ),
    ],
)
def test_bad_geojson_is_refused_with_its_reason(value, code, message):
    assert refusal(value) == (code, [message])


def test_a_self_crossing_ring_is_invalid_and_says_why():
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    code, messages = refusal(bowtie)
    assert code == "invalid" and messages[0].startswith("The geometry is not valid: Self-")


def test_unparseable_geojson_is_refused():
    code, messages = refusal({"type": "Polygon", "coordinates": "x"})
    assert code == "geojson" and messages[0].startswith("Not valid GeoJSON")


def test_several_kinds_are_named_in_the_refusal():
    assert refusal({"type": "Point", "coordinates": [1, 2]}, kinds=("Polygon", "MultiPolygon")) == (
        "geojson",
        ["Give a GeoJSON Polygon or MultiPolygon."],
    )


def test_every_ring_and_part_is_range_checked():
    far_hole = {
        "type": "MultiPolygon",
        "coordinates": [
            SQUARE["coordinates"],
            [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]],
             [[10.2, 10.2], [10.4, 10.2], [10.4, 95], [10.2, 10.2]]],
        ],
    }  # fmt: skip
    assert refusal(far_hole, kinds=("MultiPolygon",))[0] == "range"
    point = geo.geometry_from_geojson(
        {"type": "Point", "coordinates": [-180, 90]}, kinds=("Point",)
    )
    assert point.coords == (-180.0, 90.0)
    assert refusal({"type": "Point", "coordinates": [180.5, 0]}, kinds=("Point",))[0] == "range"


@pytest.mark.parametrize(("lon", "lat"), [(-180, -90), (180, 90), (0, 0)])
def test_points_on_the_edge_of_the_globe_are_made(lon, lat):
    point = geo.make_point(lon=lon, lat=lat)
    assert (point.x, point.y, point.srid) == (lon, lat, 4326)


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        (180.001, 0, "longitude 180.001 is outside -180..180"),
        (-180.001, 0, "longitude -180.001 is outside -180..180"),
        (0, 90.001, "latitude 90.001 is outside -90..90"),
        (0, -90.001, "latitude -90.001 is outside -90..90"),
    ],
)
def test_points_off_the_globe_are_refused(lon, lat, message):
    with pytest.raises(ValueError) as info:
        geo.make_point(lon=lon, lat=lat)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("radii", "shares"),
    [
        ([100, 200, 300, 400], [0.25 / 0.95, 0.25 / 0.95, 0.25 / 0.95, 0.20 / 0.95]),
        ([100, 200], [0.5, 0.5]),
        ([100], [1.0]),
    ],
)
def test_ring_shares_hold_the_whole_probability(radii, shares):
    assert geo.ring_shares(radii) == pytest.approx(shares)
    assert sum(geo.ring_shares(radii)) == pytest.approx(1.0)


def test_resolution_is_the_finest_under_the_sector_limit():
    assert geo.choose_resolution(500) == 9
    # Just under and just over the radius where resolution 9 holds MAX_SECTORS cells.
    area9 = h3.average_hexagon_area(9, "km^2")
    edge = math.sqrt(geo.MAX_SECTORS * area9 / math.pi) * 1000
    assert geo.choose_resolution(edge * 0.999) == 9
    assert geo.choose_resolution(edge * 1.001) == 8
    assert geo.choose_resolution(10_000_000) == geo.COARSEST_RESOLUTION == 7


def test_cells_in_rings_cover_the_disc_with_weights_summing_to_one():
    cells = geo.cells_in_rings(lat=34.25, lon=117.3, radii_m=[200, 400, 600, 800], resolution=9)
    assert sum(c.weight for c in cells) == pytest.approx(1.0)
    assert {c.ring for c in cells} == {1, 2, 3, 4}
    for cell in cells:
        d = h3.great_circle_distance((34.25, 117.3), (cell.lat, cell.lon), "m")
        assert d <= 800 and d <= [200, 400, 600, 800][cell.ring - 1]
        assert d > ([0, 200, 400, 600][cell.ring - 1])
    inner = [c.weight for c in cells if c.ring == 1]
    outer = [c.weight for c in cells if c.ring == 4]
    assert min(inner) > max(outer)  # the same share on fewer cells weighs more per cell


def test_a_disc_smaller_than_a_cell_is_that_cell_with_all_the_weight():
    cells = geo.cells_in_rings(lat=34.25, lon=117.3, radii_m=[1], resolution=7)
    assert len(cells) == 1
    assert cells[0].h3_index == h3.latlng_to_cell(34.25, 117.3, 7)
    assert (cells[0].ring, cells[0].weight) == (1, 1.0)


def test_the_share_of_an_empty_inner_ring_moves_outward():
    # An inner ring of 1 m holds no cell centre at resolution 9: its share goes to ring 2.
    cells = geo.cells_in_rings(lat=34.25, lon=117.3, radii_m=[1, 600], resolution=9)
    assert {c.ring for c in cells} == {2}
    assert sum(c.weight for c in cells) == pytest.approx(1.0)


def test_cell_wkt_is_a_closed_lon_lat_ring():
    cell = h3.latlng_to_cell(34.25, 117.3, 9)
    wkt = geo.cell_wkt(cell)
    assert wkt.startswith("POLYGON((") and wkt.endswith("))")
    corners = wkt[len("POLYGON((") : -2].split(", ")
    assert corners[0] == corners[-1] and len(corners) == 7
    lon, lat = map(float, corners[0].split())
    assert (lat, lon) == h3.cell_to_boundary(cell)[0]


def test_a_circle_has_its_radius_all_round():
    circle = geo.circle(lat=34.25, lon=117.3, radius_m=1000)
    ring = circle.exterior_ring.coords
    assert len(ring) == geo.CIRCLE_SEGMENTS + 1 and ring[0] == ring[-1]
    for lon, lat in ring:
        assert h3.great_circle_distance((34.25, 117.3), (lat, lon), "m") == pytest.approx(
            1000, rel=1e-3
        )
    assert ring[0][0] == pytest.approx(117.3) and ring[0][1] > 34.25  # the first point is north


@pytest.mark.parametrize(
    ("to", "compass"),
    [
        ((34.26, 117.30), "N"),
        ((34.26, 117.31), "NE"),
        ((34.25, 117.31), "E"),
        ((34.24, 117.31), "SE"),
        ((34.24, 117.30), "S"),
        ((34.24, 117.29), "SW"),
        ((34.25, 117.29), "W"),
        ((34.26, 117.29), "NW"),
    ],
)
def test_distance_and_bearing_to_each_compass_point(to, compass):
    metres, direction = geo.distance_and_bearing(
        from_lat=34.25, from_lon=117.30, to_lat=to[0], to_lon=to[1]
    )
    assert direction == compass
    assert metres == pytest.approx(h3.great_circle_distance((34.25, 117.30), to, "m"))


@pytest.mark.parametrize(
    ("lon", "lat", "ok"),
    [(180, 0, True), (-180, 0, True), (0, 90, True), (0, -90, True),
     (-180.5, 0, False), (180.5, 0, False), (0, -90.5, False), (0, 90.5, False)],
)  # fmt: skip
def test_geojson_points_on_and_just_off_the_globe(lon, lat, ok):
    value = {"type": "Point", "coordinates": [lon, lat]}
    if ok:
        assert geo.geometry_from_geojson(value, kinds=("Point",)).coords == (lon, lat)
    else:
        assert refusal(value, kinds=("Point",))[0] == "range"


def _destination(lat, lon, bearing_deg, metres):
    """The point at this bearing and distance on the sphere (the test's own formula)."""
    r = 6_371_008.8
    d, b = metres / r, math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


@pytest.mark.parametrize("boundary", [22.5 + 45 * i for i in range(8)])
@pytest.mark.parametrize("metres", [500, 800_000])
def test_compass_points_change_exactly_at_their_boundaries(boundary, metres):
    before, after = boundary - 0.3, boundary + 0.3
    names = geo.COMPASS
    for bearing, expected in (
        (before, names[int(boundary // 45)]),
        (after, names[int(boundary // 45 + 1) % 8]),
    ):
        lat, lon = _destination(34.25, 117.3, bearing, metres)
        metres_found, compass = geo.distance_and_bearing(
            from_lat=34.25, from_lon=117.3, to_lat=lat, to_lon=lon
        )
        assert compass == expected, (bearing, compass)
        assert metres_found == pytest.approx(metres, rel=1e-6)


def test_a_circle_is_exact_evenly_spaced_and_starts_north():
    circle = geo.circle(lat=34.25, lon=117.3, radius_m=1000)
    assert circle.srid == 4326
    ring = circle.exterior_ring.coords
    for i, (lon, lat) in enumerate(ring[:-1]):
        expected = _destination(34.25, 117.3, 360 * i / geo.CIRCLE_SEGMENTS, 1000)
        assert (lat, lon) == pytest.approx(expected, abs=1e-12)


def test_the_coarsest_resolution_is_the_floor():
    area7 = h3.average_hexagon_area(7, "km^2")
    over7 = math.sqrt(geo.MAX_SECTORS * area7 / math.pi) * 1000 * 1.01
    assert geo.choose_resolution(over7) == 7


def _every_cell_within(lat, lon, outer, resolution):
    centre = h3.latlng_to_cell(lat, lon, resolution)
    return {
        c
        for c in h3.grid_disk(centre, 60)
        if h3.great_circle_distance((lat, lon), h3.cell_to_latlng(c), "m") <= outer
    }


@pytest.mark.parametrize("resolution", [8, 9])
def test_cells_in_rings_are_every_cell_within_the_outer_radius(resolution):
    cells = geo.cells_in_rings(lat=34.25, lon=117.3, radii_m=[300, 900, 1500, 2500],
                               resolution=resolution)  # fmt: skip
    assert {c.h3_index for c in cells} == _every_cell_within(34.25, 117.3, 2500, resolution)


def test_each_ring_spreads_its_share_evenly_over_its_cells():
    radii = [200, 400, 600, 800]
    cells = geo.cells_in_rings(lat=34.25, lon=117.3, radii_m=radii, resolution=9)
    shares = geo.ring_shares(radii)
    for ring in (1, 2, 3, 4):
        in_ring = [c for c in cells if c.ring == ring]
        assert in_ring
        assert all(c.weight == pytest.approx(shares[ring - 1] / len(in_ring)) for c in in_ring)


def test_the_share_of_an_empty_outer_ring_moves_to_the_last_ring_with_cells():
    cells = geo.cells_in_rings(lat=34.25, lon=117.3, radii_m=[600, 600.01], resolution=9)
    assert {c.ring for c in cells} == {1}
    assert all(c.weight == pytest.approx(1 / len(cells)) for c in cells)


def test_a_geocoding_error_names_its_reason_and_detail():
    assert str(geo.GeocodingError("timeout", "took 5 s")) == "timeout: took 5 s"
    assert str(geo.GeocodingError("not_found")) == "not_found"
    assert geo.GeocodingError("not_found").reason == "not_found"


def test_the_cache_key_ignores_spacing_and_case_but_not_words(settings):
    settings.GEOCODER = {**settings.GEOCODER, "PROVIDER": "nominatim", "DOMAIN": "a"}
    key = geo._cache_key("  Main   St 5 ")
    assert key == geo._cache_key("main st 5") and key.startswith("geocode:")
    assert key != geo._cache_key("main st 6") and key != geo._cache_key("mainst 5")
    settings.GEOCODER = {**settings.GEOCODER, "DOMAIN": "b"}
    assert geo._cache_key("main st 5") != key
