"""PATCH with If-Match, close, sightings and timeline on /api/v1/cases/{id}/."""

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from rest_framework.test import APIClient

from search.models import Task
from search.services import field
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import build_world, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def api_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_patch_needs_if_match_and_a_stale_etag_gets_412(world):
    case = open_case(world)
    api = api_for(world.clerk)
    got = api.get(f"/api/v1/cases/{case.pk}/")
    tag = got["ETag"]
    assert tag == f'"{case.version}"'
    assert api.patch(f"/api/v1/cases/{case.pk}/", {"clothing": "red coat"}).status_code == 428
    ok = api.patch(
        f"/api/v1/cases/{case.pk}/", {"clothing": "red coat"}, format="json", HTTP_IF_MATCH=tag
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["clothing"] == "red coat"
    assert ok["ETag"] != tag
    stale = api.patch(
        f"/api/v1/cases/{case.pk}/", {"clothing": "blue coat"}, format="json", HTTP_IF_MATCH=tag
    )
    assert stale.status_code == 412
    case.refresh_from_db()
    assert case.clothing == "red coat"
    bad = api.patch(
        f"/api/v1/cases/{case.pk}/", {"height_cm": 900}, format="json", HTTP_IF_MATCH=ok["ETag"]
    )
    assert bad.status_code == 400 and "height_cm" in bad.json()


def test_an_outsider_cannot_patch_or_close(world):
    case = open_case(world)
    fielder = UserFactory(organisation=world.city, roles=["field"])
    api = api_for(fielder)
    assert api.patch(f"/api/v1/cases/{case.pk}/", {}, HTTP_IF_MATCH='"1"').status_code == 403
    assert api.post(f"/api/v1/cases/{case.pk}/close/", {"outcome": "found_well"}).status_code == 403
    clerk_only = UserFactory(organisation=world.city, roles=["clerk"])
    response = api_for(clerk_only).post(
        f"/api/v1/cases/{case.pk}/close/", {"outcome": "found_well"}
    )
    assert response.status_code == 403


def test_close_cancels_open_tasks_and_the_timeline_shows_it(world):
    from search.services.areas import dispatch_case

    case = open_case(world)
    dispatch_case(case_id=case.pk)
    assert Task.objects.open().filter(case=case).exists()
    api = api_for(world.clerk)
    bad = api.post(f"/api/v1/cases/{case.pk}/close/", {"outcome": "withdrawn"})
    assert bad.status_code == 400 and "outcome" in bad.json()
    response = api.post(f"/api/v1/cases/{case.pk}/close/", {"outcome": "found_well"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "closed"
    assert not Task.objects.open().filter(case=case).exists()
    events = api.get(f"/api/v1/cases/{case.pk}/timeline/").json()["results"]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "created" and "outcome_recorded" in kinds
    assert all(a["hash"] == b["prev_hash"] for a, b in zip(events, events[1:], strict=False))
    again = api.post(f"/api/v1/cases/{case.pk}/close/", {"outcome": "found_well"})
    assert again.status_code == 400


def test_sightings_are_listed_newest_first(world):
    case = open_case(world)
    for minutes in (30, 10):
        field.sighting_record(
            origin=Origin(actor=world.clerk),
            case=case,
            kind="clue",
            point=Point(117.301, 34.251, srid=4326),
            seen_at=timezone.now() - timezone.timedelta(minutes=minutes),
            description=f"{minutes} min ago",
        )
    body = api_for(world.clerk).get(f"/api/v1/cases/{case.pk}/sightings/").json()
    assert [s["description"] for s in body["results"]] == ["10 min ago", "30 min ago"]
    assert body["results"][0]["point"]["type"] == "Point"
    other = UserFactory(roles=["clerk"])  # another organisation
    assert api_for(other).get(f"/api/v1/cases/{case.pk}/sightings/").status_code == 404


def test_the_lists_of_a_case_filter_and_refuse_a_bad_filter(world):
    from search.services.areas import dispatch_case

    case = open_case(world)
    dispatch_case(case_id=case.pk)
    api = api_for(world.clerk)
    offered = api.get(f"/api/v1/cases/{case.pk}/tasks/", {"status": "offered"}).json()
    assert offered["count"] == Task.objects.filter(case=case, status="offered").count() > 0
    assert api.get(f"/api/v1/cases/{case.pk}/tasks/", {"status": "done"}).json()["count"] == 0
    bad = api.get(f"/api/v1/cases/{case.pk}/tasks/", {"status": "dreaming"})
    assert bad.status_code == 400 and "status" in bad.json()

    for kind, minutes in (("clue", 30), ("sighting", 10)):
        field.sighting_record(
            origin=Origin(actor=world.clerk),
            case=case,
            kind=kind,
            point=Point(117.301, 34.251, srid=4326),
            seen_at=timezone.now() - timezone.timedelta(minutes=minutes),
            description=f"{kind} {minutes} min ago",
        )
    url = f"/api/v1/cases/{case.pk}/sightings/"
    clues = api.get(url, {"kind": "clue"}).json()["results"]
    assert [s["description"] for s in clues] == ["clue 30 min ago"]
    since = (timezone.now() - timezone.timedelta(minutes=20)).isoformat()
    recent = api.get(url, {"seen_after": since}).json()["results"]
    assert [s["description"] for s in recent] == ["sighting 10 min ago"]
    assert api.get(url, {"seen_after": "yesterday"}).status_code == 400

    timeline = f"/api/v1/cases/{case.pk}/timeline/"
    events = api.get(timeline).json()["results"]
    newer = api.get(timeline, {"after_seq": events[0]["seq"]}).json()["results"]
    assert [e["seq"] for e in newer] == [e["seq"] for e in events[1:]]
    assert api.get(timeline, {"kind": "created"}).json()["count"] == 1
    # Another organisation's clerk learns nothing, not even whether the case exists.
    other = UserFactory(roles=["clerk"])
    assert api_for(other).get(f"/api/v1/cases/{case.pk}/tasks/").status_code == 404
