"""GET /api/v1/cases/{id}/tasks/, /search-areas/ and /sectors/ with the case's access rules."""

import pytest
from rest_framework.test import APIClient

from search.services import areas, timeline
from tests.factories import UserFactory
from tests.search.dispatch_world import build_world, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched():
    world = build_world()
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    api = APIClient()
    api.force_authenticate(world.clerk)
    return world, case, api


def test_tasks_list_sector_unit_status_and_times(dispatched):
    world, case, api = dispatched

    body = api.get(f"/api/v1/cases/{case.pk}/tasks/").json()

    assert body["count"] == 8
    task = body["results"][0]
    assert {"sector", "unit", "status", "offered_at", "expires_at", "rank"} <= set(task)
    assert task["status"] == "offered"
    assert {t["unit"] for t in body["results"]} == {"near", "middle", "far", "boat"}


def test_search_areas_are_geojson_with_every_version(dispatched):
    world, case, api = dispatched
    areas.area_compute(case=case, reason="manual", origin=timeline.Origin.system())

    body = api.get(f"/api/v1/cases/{case.pk}/search-areas/").json()

    assert body["type"] == "FeatureCollection"
    versions = [
        (f["properties"]["version"], f["properties"]["is_current"]) for f in body["features"]
    ]
    assert versions == [(2, True), (1, False)]
    geometry = body["features"][0]["geometry"]
    assert geometry["type"] == "Polygon"
    lon, lat = geometry["coordinates"][0][0]
    assert 117 < lon < 118 and 34 < lat < 35


def test_sectors_are_geojson_hexagons_with_status(dispatched):
    world, case, api = dispatched

    body = api.get(f"/api/v1/cases/{case.pk}/sectors/").json()

    assert len(body["features"]) == case.sectors.count()
    first = body["features"][0]
    assert len(first["geometry"]["coordinates"][0]) == 7  # six corners, closed
    assert first["properties"]["status"] == "offered"


def test_outsiders_and_field_members_are_refused(dispatched):
    world, case, _ = dispatched
    outsider, field = APIClient(), APIClient()
    outsider.force_authenticate(UserFactory(roles=["coordinator"]))
    field.force_authenticate(UserFactory(organisation=world.city, roles=["field"]))

    for path in ("tasks", "search-areas", "sectors"):
        assert outsider.get(f"/api/v1/cases/{case.pk}/{path}/").status_code == 404
        assert field.get(f"/api/v1/cases/{case.pk}/{path}/").status_code == 403
        assert APIClient().get(f"/api/v1/cases/{case.pk}/{path}/").status_code == 401
