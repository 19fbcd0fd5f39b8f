"""Inputs that once gave a server error: each is now a clear refusal that changes nothing."""

import io
import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from search.models import Case, SearchArea, Sighting
from search.photos import clean_photo
from search.services import areas
from tests.factories import UserFactory
from tests.search.dispatch_world import build_world, open_case
from tests.search.intake_data import PIN_LAT, PIN_LON

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def world(client):
    world = build_world()
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    member = UserFactory(organisation=world.city, roles=["field"])
    world.near.members.add(member)
    task = case.tasks.filter(unit=world.near).first()
    return world, case, member, task


def act(client, **fields):
    return client.post("/field/actions/", {"client_id": str(uuid.uuid4()), **fields}, **JSON)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"kind": "accept", "task": "²"}, 404),
        ({"kind": "accept", "task": "9" * 30}, 404),
        ({"kind": "accept", "task": "-1"}, 404),
        ({"kind": "position", "unit": "abc", "lat": "34.2", "lon": "117.3"}, 404),
        ({"kind": "position", "unit": "9" * 30, "lat": "34.2", "lon": "117.3"}, 404),
        ({"kind": "report", "seen_at": "2026-13-45T99:99", "lat": "34.25", "lon": "117.3"}, 400),
        (
            {"kind": "report", "seen_at": "2026-11-24T10:00+22:00", "lat": "34.25", "lon": "117.3"},
            400,
        ),
        ({"kind": "report", "seen_at": "0001-01-01T00:00", "lat": "34.25", "lon": "117.3"}, 400),
        (
            {
                "kind": "found",
                "seen_at": "0001-01-01T00:00",
                "lat": "34.25",
                "lon": "117.3",
                "condition": "well",
                "with_whom": "us",
            },
            400,
        ),
    ],
    ids=[
        "superscript task",
        "huge task",
        "negative task",
        "unit abc",
        "huge unit",
        "impossible date",
        "offset of 22 hours",
        "year 1 report",
        "year 1 found",
    ],
)
def test_field_actions_refuse_bad_values_without_a_server_error(client, world, fields, status):
    _, case, member, task = world
    client.force_login(member)
    if fields["kind"] in ("report", "found"):
        fields = {**fields, "task": task.pk}
    before = Sighting.objects.count()

    response = act(client, **fields)

    assert response.status_code == status, response.content
    assert Sighting.objects.count() == before
    case.refresh_from_db()
    assert case.is_open
    # The case's map and sightings still answer for its coordinator.
    client.force_login(world[0].clerk)
    assert client.get(f"/cases/{case.pk}/map/").status_code == 200
    assert client.get(f"/api/v1/cases/{case.pk}/sightings/").status_code == 200


def test_a_clue_from_shortly_before_the_last_sighting_is_still_taken(client, world):
    from django.utils import timezone

    _, case, member, task = world
    client.force_login(member)
    earlier = timezone.localtime(case.last_seen_at - timezone.timedelta(days=2))
    response = act(
        client,
        kind="report",
        task=task.pk,
        report_kind="clue",
        seen_at=earlier.strftime("%Y-%m-%dT%H:%M"),
        lat="34.25",
        lon="117.3",
    )
    assert response.status_code == 200, response.content
    assert case.sightings.count() == 1


def _polygon(coords):
    return json.dumps({"type": "Polygon", "coordinates": [coords]})


@pytest.mark.parametrize(
    "area",
    [
        _polygon([[117.29, 34.24, 5], [117.31, 34.24, 5], [117.31, 34.26, 5], [117.29, 34.24, 5]]),
        _polygon([[190, 34.24], [191, 34.24], [191, 95], [190, 34.24]]),
        json.dumps({"type": "Polygon", "coordinates": []}),
        "[" * 5000 + "]" * 5000,
        json.dumps({"type": "Feature", "geometry": None}),
        "not json",
    ],
    ids=["3-D", "out of range", "empty", "deep", "feature without geometry", "not json"],
)
def test_draw_area_refuses_bad_geometry_with_a_message(client, world, area):
    w, case, _, _ = world
    client.force_login(w.clerk)
    versions = SearchArea.objects.filter(case=case).count()

    response = client.post(f"/cases/{case.pk}/map/area/", {"area": area}, follow=True)

    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert SearchArea.objects.filter(case=case).count() == versions


@pytest.mark.parametrize("unit", ["abc", "9" * 30, "²", ""])
def test_reassign_to_a_unit_that_is_not_a_number_says_so(client, world, unit):
    w, case, _, task = world
    client.force_login(w.clerk)

    response = client.post(
        f"/cases/{case.pk}/map/reassign/",
        {"sector": task.sector.h3_index, "unit": unit},
        follow=True,
    )

    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    task.refresh_from_db()
    assert task.unit_id == w.near.pk


@pytest.fixture
def api_clerk(client, clerk):
    client.force_login(clerk)
    return client


def _case_body(**overrides):
    body = {
        "subject_name": "Zhao Lei",
        "category": "dementia",
        "last_seen_at": "2026-11-23T09:30:00+08:00",
        "last_seen_location": {"type": "Point", "coordinates": [PIN_LON, PIN_LAT]},
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            _case_body(last_seen_location={"type": "Point", "coordinates": [PIN_LON, PIN_LAT, 30]}),
            "last_seen_location",
        ),
        (_case_body(last_seen_location={"type": "Point", "coordinates": []}), "last_seen_location"),
        (_case_body(date_of_birth="0001-01-01"), "date_of_birth"),
        (_case_body(last_seen_at="0001-01-01T00:00:00+08:00"), "last_seen_at"),
    ],
    ids=["3-D point", "empty point", "birth in year 1", "last seen in year 1"],
)
def test_case_api_refuses_bad_values_with_field_errors(api_clerk, body, field):
    response = api_clerk.post("/api/v1/cases/", body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert Case.objects.count() == 0


def test_case_api_refuses_json_nested_thousands_deep(api_clerk):
    response = api_clerk.post(
        "/api/v1/cases/", "[" * 5000 + "]" * 5000, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    "query",
    [
        "offered_after=0001-01-01T00:00:00%2B22:00",
        "offered_after=9999-12-31T23:59:59-20:00",
        "offered_after=2026-13-45T99:99",
        "unit=1.5",
        "unit=" + "9" * 30,
    ],
)
def test_task_filters_refuse_bad_values(client, world, query):
    w, case, _, _ = world
    client.force_login(w.clerk)
    response = client.get(f"/api/v1/cases/{case.pk}/tasks/?{query}")
    assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    "query",
    ["seen_after=0001-01-01T00:00:00-20:00", "seen_after=9999-12-31T23:59:59%2B22:00"],
)
def test_sighting_and_timeline_filters_refuse_bad_values(client, world, query):
    w, case, _, _ = world
    client.force_login(w.clerk)
    assert client.get(f"/api/v1/cases/{case.pk}/sightings/?{query}").status_code == 400
    assert client.get(f"/api/v1/cases/{case.pk}/timeline/?after_seq=1e99").status_code == 400
    # A sensible value still filters.
    assert (
        client.get(
            f"/api/v1/cases/{case.pk}/sightings/?seen_after=2026-01-01T00:00:00Z"
        ).status_code
        == 200
    )


def _jpeg_with_comment() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "green").save(
        out, format="JPEG", comment=b"<script>alert(1)</script>"
    )
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_stored_photo_carries_pixels_only(fmt):
    from PIL import PngImagePlugin

    out = io.BytesIO()
    image = Image.new("RGB", (32, 32), "green")
    if fmt == "JPEG":
        image.save(out, format=fmt, comment=b"<script>alert(1)</script>")
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "<script>alert(1)</script>")
        image.save(out, format=fmt, pnginfo=info)
    else:
        image.save(out, format=fmt, xmp=b"<x:xmpmeta><script>alert(1)</script></x:xmpmeta>")
    assert b"<script>" in out.getvalue()

    cleaned = clean_photo(SimpleUploadedFile(f"p.{fmt.lower()}", out.getvalue())).read()

    assert b"<script>" not in cleaned and b"alert(1)" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as back:
        assert back.size == (32, 32)
        assert not {"comment", "xmp", "exif", "Comment"} & set(back.info)


def test_the_edit_form_refuses_an_offset_no_place_has(client, world):
    # Found by the fuzzer: ISO 8601 parsing takes "+22:00", which PostgreSQL refuses.
    from tests.search.intake_data import form_payload

    w, case, _, _ = world
    client.force_login(w.clerk)
    case.refresh_from_db()
    body = {
        **form_payload(latitude="34.25", longitude="117.3"),
        "version": str(case.version),
        "last_seen_at": "2026-11-24T10:00+22:00",
    }
    response = client.post(f"/cases/{case.pk}/edit/", body)
    assert response.status_code == 400
    errors = {n: [str(e) for e in es] for n, es in response.context["form"].errors.items()}
    assert "offset is out of range" in " ".join(errors["last_seen_at"])
    case.refresh_from_db()
    assert case.version == 1
