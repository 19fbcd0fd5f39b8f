"""The coordinator's map page and its actions, through the real views."""

import json
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from search.geo import SRID
from search.models import Task
from search.services import areas, field
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client):
    world = build_world()
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    client.force_login(world.clerk)  # clerk and coordinator in the test world
    return world, case, client


def square_geojson(lon, lat, half):
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def test_map_page_shows_queue_tasks_versions_and_map_data(setup):
    world, case, client = setup

    response = client.get(f"/cases/{case.pk}/map/")

    assert response.status_code == 200
    page = response.content.decode()
    data = json.loads(page.split('id="map-data" type="application/json">')[1].split("</script>")[0])
    assert data["radii"] == [200, 400, 600, 800]
    assert {u["name"] for u in data["units"]} >= {"near", "far", "boat"}
    assert response.context["waiting_count"] == case.sectors.count() - 8
    assert len(response.context["open_tasks"]) == 8
    assert "v1" in page and "static/vendor/leaflet/leaflet.js" in page.replace(
        "/static/", "static/"
    )


def test_outsider_gets_404_and_field_member_403(setup, client):
    world, case, _ = setup
    client.force_login(UserFactory(roles=["coordinator"]))
    assert client.get(f"/cases/{case.pk}/map/").status_code == 404
    client.force_login(UserFactory(organisation=world.city, roles=["field"]))
    assert client.get(f"/cases/{case.pk}/map/").status_code == 403


def test_supervisor_sees_the_map_but_cannot_steer(setup, client):
    world, case, _ = setup
    supervisor = UserFactory(organisation=world.city, roles=["supervisor"])
    client.force_login(supervisor)

    page = client.get(f"/cases/{case.pk}/map/")
    pause = client.post(f"/cases/{case.pk}/map/pause/", {"paused": "1"})

    assert page.status_code == 200 and not page.context["can_steer"]
    assert pause.status_code == 403
    case.refresh_from_db()
    assert not case.search_paused


def test_pause_and_reassign_from_the_page(setup):
    world, case, client = setup
    task = Task.objects.filter(case=case, unit=world.near).first()

    client.post(f"/cases/{case.pk}/map/pause/", {"paused": "1"})
    case.refresh_from_db()
    assert case.search_paused
    response = client.post(
        f"/cases/{case.pk}/map/reassign/", {"sector": task.sector.h3_index, "unit": world.far.pk}
    )

    assert response.status_code == 302
    assert Task.objects.get(sector=task.sector, status="offered").unit == world.far


def test_reassign_with_an_unknown_sector_says_so_and_changes_nothing(setup):
    world, case, client = setup
    before = list(Task.objects.values_list("pk", "status"))

    response = client.post(
        f"/cases/{case.pk}/map/reassign/", {"sector": "nope", "unit": world.far.pk}, follow=True
    )

    assert "Choose a sector of this case" in response.content.decode()
    assert list(Task.objects.values_list("pk", "status")) == before


def test_drawn_area_becomes_the_next_version(setup):
    world, case, client = setup
    lon, lat = LAST_SEEN

    client.post(
        f"/cases/{case.pk}/map/area/",
        {"area": square_geojson(lon + 0.01, lat, 0.004), "note": "River bank"},
    )

    current = case.areas.get(is_current=True)
    assert (current.version, current.reason, current.note) == (2, "manual", "River bank")
    in_area = case.sectors.filter(in_current_area=True)
    assert in_area.count() > 5
    assert sum(in_area.values_list("weight", flat=True)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "area",
    [
        "",
        "not json",
        json.dumps({"type": "Point", "coordinates": [117.3, 34.25]}),
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [117.30, 34.25],
                        [117.31, 34.26],
                        [117.31, 34.25],
                        [117.30, 34.26],
                        [117.30, 34.25],
                    ]
                ],
            }
        ),
        square_geojson(117.3, 34.25, 1.0),  # far too large
    ],
    ids=["empty", "garbage", "point", "bow-tie", "huge"],
)
def test_a_bad_drawn_area_is_refused_with_a_message(setup, area):
    world, case, client = setup

    response = client.post(f"/cases/{case.pk}/map/area/", {"area": area}, follow=True)

    assert response.status_code == 200
    assert list(response.context["messages"])
    assert case.areas.count() == 1


def test_confirming_a_sighting_from_the_page_recentres(setup):
    world, case, client = setup
    sighting = field.sighting_record(
        origin=Origin(actor=world.clerk),
        case=case,
        kind="sighting",
        point=Point(LAST_SEEN[0] + 0.016, LAST_SEEN[1], srid=SRID),
        seen_at=timezone.now() - timedelta(minutes=20),
    )

    client.post(f"/cases/{case.pk}/map/sightings/{sighting.pk}/confirm/")

    assert case.areas.get(is_current=True).reason == "sighting"


def test_actions_refuse_get(setup):
    world, case, client = setup
    for path in ("pause", "reassign", "area"):
        assert client.get(f"/cases/{case.pk}/map/{path}/").status_code == 405
