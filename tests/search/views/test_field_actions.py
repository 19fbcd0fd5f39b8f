"""The field app's pages and its one action endpoint: state machine, access, replay, bad input."""

import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from search.models import Alert, CaseEvent, FieldAction, Sighting, Task
from search.services import areas, offers
from tests.factories import UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def setup(client):
    world = build_world()
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    member = UserFactory(organisation=world.city, roles=["field"])
    world.near.members.add(member)
    client.force_login(member)
    task = Task.objects.filter(unit=world.near).order_by("-sector__weight").first()
    return world, case, member, task, client


def act(client, kind, task=None, client_id=None, **fields):
    data = {"kind": kind, "client_id": str(client_id or uuid.uuid4()), **fields}
    if task is not None:
        data["task"] = task.pk
    return client.post("/field/actions/", data, **JSON)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(out, format="JPEG")
    return out.getvalue()


def test_my_tasks_lists_only_my_units_offers_with_a_countdown(setup):
    world, case, member, task, client = setup

    page = client.get("/field/")

    assert page.status_code == 200
    rows = page.context["rows"]
    assert {r["task"].unit for r in rows} == {world.near}
    assert rows[0]["distance_m"] is not None and rows[0]["direction"]
    assert "data-expires" in page.content.decode()


def test_every_transition_through_the_endpoint(setup):
    world, case, member, task, client = setup

    assert act(client, "accept", task).json()["ok"]
    assert act(client, "start", task).json()["ok"]
    done = act(client, "finish", task, coverage="70", note="Park searched")

    assert done.json()["ok"]
    task.refresh_from_db()
    assert (task.status, task.coverage, task.note) == ("done", 0.7, "Park searched")
    assert task.sector.__class__.objects.get(pk=task.sector_id).status == "searched"
    kinds = list(case.events.filter(kind="task_changed").values_list("data__status", flat=True))
    assert kinds[-3:] == ["accepted", "in_progress", "done"]


def test_declining_with_a_reason_frees_the_sector(setup):
    world, case, member, task, client = setup

    body = act(client, "decline", task, reason="Flat tyre").json()

    task.refresh_from_db()
    assert body["ok"] and task.status == "declined" and task.note == "Flat tyre"


@pytest.mark.parametrize(
    ("steps", "kind", "message"),
    [
        ([("decline", {"reason": "x"})], "finish", "Only a task in progress can be finished"),
        ([], "start", "Only an accepted task can be started"),
        ([("accept", {})], "decline", "can no longer be declined"),
    ],
)
def test_an_action_the_state_does_not_allow_gets_409_and_changes_nothing(
    setup, steps, kind, message
):
    world, case, member, task, client = setup
    for step, fields in steps:
        act(client, step, task, **fields)
    task.refresh_from_db()
    before = task.status

    response = act(client, kind, task, coverage="50")

    assert response.status_code == 409
    assert message in response.json()["error"]
    task.refresh_from_db()
    assert task.status == before


def test_accepting_an_expired_offer_is_refused_clearly(setup):
    world, case, member, task, client = setup
    from datetime import timedelta

    from django.utils import timezone

    Task.objects.filter(pk=task.pk).update(expires_at=timezone.now() - timedelta(seconds=5))

    response = act(client, "accept", task)

    assert response.status_code == 409 and "expired" in response.json()["error"]


def test_another_units_task_answers_404(setup):
    world, case, member, task, client = setup
    other = Task.objects.filter(unit=world.far).first()

    assert client.get(f"/field/tasks/{other.pk}/").status_code == 404
    assert act(client, "accept", other).status_code == 404
    other.refresh_from_db()
    assert other.status == "offered"


def test_people_without_the_field_role_are_refused(setup, client):
    world, case, member, task, _ = setup
    client.force_login(world.clerk)

    assert client.get("/field/").status_code == 403
    assert act(client, "accept", task).status_code == 403


def test_a_replay_of_the_same_id_and_body_is_applied_once(setup):
    world, case, member, task, client = setup
    action = uuid.uuid4()
    fields = {
        "report_kind": "clue",
        "description": "A blue scarf",
        "lat": "34.251",
        "lon": "117.301",
    }
    act(client, "accept", task)

    first = act(client, "report", task, client_id=action, **fields)
    second = act(client, "report", task, client_id=action, **fields)

    assert first.status_code == second.status_code == 200
    assert second.json()["replayed"] is True
    assert second.json()["sighting"] == first.json()["sighting"]
    assert Sighting.objects.count() == 1
    assert CaseEvent.objects.filter(kind="sighting_reported").count() == 1


def test_a_replay_with_a_known_id_but_another_body_is_refused(setup):
    world, case, member, task, client = setup
    action = uuid.uuid4()
    act(client, "accept", task)
    act(
        client,
        "report",
        task,
        client_id=action,
        report_kind="clue",
        description="scarf",
        lat="34.25",
        lon="117.3",
    )

    response = act(
        client,
        "report",
        task,
        client_id=action,
        report_kind="clue",
        description="a different thing",
        lat="34.25",
        lon="117.3",
    )

    assert response.status_code == 409
    assert "already used for a different action" in response.json()["error"]
    assert Sighting.objects.count() == 1


def test_a_refused_replay_is_answered_the_same_way_again(setup):
    world, case, member, task, client = setup
    action = uuid.uuid4()
    act(client, "decline", task, reason="busy")

    first = act(client, "accept", task, client_id=action)
    again = act(client, "accept", task, client_id=action)

    assert first.status_code == again.status_code == 409
    assert FieldAction.objects.filter(client_id=action).count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lat": "95", "lon": "117.3", "accuracy": "10"}, "latitude -90..90"),
        ({"lat": "34.25", "lon": "-190", "accuracy": "10"}, "latitude -90..90"),
        ({"lat": "34.25", "lon": "117.3", "accuracy": "50000"}, "not believable"),
        ({"lat": "34.25", "lon": "117.3", "accuracy": "-3"}, "not believable"),
        ({"lat": "north", "lon": "117.3"}, "Enter a number"),
    ],
)
def test_a_bad_position_is_refused_and_changes_nothing(setup, fields, message):
    world, case, member, task, client = setup
    before = world.near.last_position.coords

    response = act(client, "position", **fields)

    assert response.status_code == 400 and message in response.json()["error"]
    world.near.refresh_from_db()
    assert world.near.last_position.coords == before


def test_position_sharing_moves_the_unit(setup):
    world, case, member, task, client = setup

    assert act(client, "position", lat="34.26", lon="117.31", accuracy="12").json()["ok"]

    world.near.refresh_from_db()
    assert world.near.last_position.coords == pytest.approx((117.31, 34.26))


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (lambda: SimpleUploadedFile("x.jpg", b"not an image at all", "image/jpeg"), "not a photo"),
        (
            lambda: SimpleUploadedFile(
                "x.jpg", b"\xff\xd8" + b"0" * (10 * 1024 * 1024 + 5), "image/jpeg"
            ),
            "10 MB",
        ),
    ],
)
def test_a_bad_photo_is_refused_and_nothing_is_saved(setup, photo, message):
    world, case, member, task, client = setup
    act(client, "accept", task)

    response = client.post(
        "/field/actions/",
        {
            "kind": "report",
            "client_id": str(uuid.uuid4()),
            "task": task.pk,
            "report_kind": "sighting",
            "description": "seen",
            "lat": "34.25",
            "lon": "117.3",
            "photo": photo(),
        },
        **JSON,
    )

    assert response.status_code == 400 and message in response.json()["error"]
    assert Sighting.objects.count() == 0


def test_a_sighting_with_a_photo_reaches_the_coordinator(setup):
    world, case, member, task, client = setup
    act(client, "accept", task)

    response = client.post(
        "/field/actions/",
        {
            "kind": "report",
            "client_id": str(uuid.uuid4()),
            "task": task.pk,
            "report_kind": "sighting",
            "description": "Boy in red coat",
            "confidence": "plausible",
            "lat": str(LAST_SEEN[1]),
            "lon": str(LAST_SEEN[0]),
            "photo": SimpleUploadedFile("p.jpg", jpeg(), "image/jpeg"),
        },
        **JSON,
    )

    assert response.json()["ok"]
    sighting = Sighting.objects.get()
    assert sighting.photo and sighting.unit == world.near and sighting.reported_by == member
    assert Alert.objects.filter(case=case, kind="sighting").exists()


def test_found_reaches_the_coordinator_and_stops_new_offers(setup):
    world, case, member, task, client = setup
    act(client, "accept", task)

    response = act(
        client,
        "found",
        task,
        condition="needs_care",
        with_whom="Ambulance 120",
        lat="34.25",
        lon="117.3",
    )

    assert response.json()["ok"]
    case.refresh_from_db()
    assert case.status == "found"
    assert Alert.objects.filter(case=case, kind="found").exists()
    assert not Task.objects.filter(case=case, status="offered").exists()
    assert offers.offers_make(case=case).offered == []


def test_found_without_saying_who_has_the_person_is_refused(setup):
    world, case, member, task, client = setup
    act(client, "accept", task)

    response = act(client, "found", task, condition="well", with_whom=" ", lat="34.25", lon="117.3")

    assert response.status_code == 400 and "who has the person" in response.json()["error"]
    case.refresh_from_db()
    assert case.status != "found"


def test_an_action_without_a_valid_id_is_refused(setup):
    world, case, member, task, client = setup

    response = client.post("/field/actions/", {"kind": "accept", "task": task.pk}, **JSON)

    assert response.status_code == 400 and "client_id" in response.json()["fields"]


def test_without_javascript_a_form_post_redirects_back_with_a_message(setup):
    world, case, member, task, client = setup

    response = client.post(
        "/field/actions/",
        {"kind": "accept", "task": task.pk, "client_id": str(uuid.uuid4())},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"/field/tasks/{task.pk}/"
    assert "Accepted." in response.content.decode()


def test_the_service_worker_is_served_for_the_field_scope(setup):
    world, case, member, task, client = setup

    response = client.get("/field/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"beacon-field-v1" in response.content


def test_an_action_id_that_is_no_uuid_is_refused_with_its_reason(setup):
    world, case, member, task, client = setup

    for client_id in ("not-a-uuid", f" {uuid.uuid4()}"):
        response = act(client, "accept", task, client_id=client_id)

        assert response.status_code == 400
        assert response.json() == {
            "ok": False,
            "error": "The action has no valid id.",
            "fields": {"client_id": ["Required: a UUID made on the phone."]},
        }
    task.refresh_from_db()
    assert task.status == "offered"


def test_a_null_character_in_any_value_refuses_the_whole_action(setup):
    world, case, member, task, client = setup

    response = act(client, "decline", task, reason="fl\x00at", extra="\x00")

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "Null characters are not allowed.",
        "fields": {
            "extra": ["Null characters are not allowed."],
            "reason": ["Null characters are not allowed."],
        },
    }
    task.refresh_from_db()
    assert task.status == "offered"


GOOD_PLACE = {"lat": "34.25", "lon": "117.3"}


@pytest.mark.parametrize(
    ("kind", "fields", "field", "message"),
    [
        ("finish", {}, "coverage", "Say how much of the sector was searched."),
        ("finish", {"coverage": "most"}, "coverage", "Enter a number."),
        ("report", {"lat": "", "lon": ""}, "lat", "Give the place: use the phone's position"),
        ("report", {"lat": "north", "lon": "117.3"}, "lat", "Enter a number."),
        ("report", {"lat": "34.25", "lon": "east"}, "lon", "Enter a number."),
        ("report", {"lat": "95", "lon": "117.3"}, "lat", "latitude -90..90"),
        ("report", {"lat": "34.25", "lon": "nan"}, "lat", "latitude -90..90"),
        ("report", {**GOOD_PLACE, "seen_at": "yesterday"}, "seen_at", "YYYY-MM-DDTHH:MM"),
        ("report", {**GOOD_PLACE, "seen_at": "2026-11-24T10:00+15:00"}, "seen_at", "UTC+14"),
        ("report", {**GOOD_PLACE, "seen_at": "0001-01-01T00:00"}, "seen_at", "1900 and 3000"),
        ("report", {**GOOD_PLACE, "report_kind": "found"}, "report_kind", "sighting or clue"),
        ("report", {**GOOD_PLACE, "report_kind": ""}, "report_kind", "sighting or clue"),
        ("found", {"with_whom": "us", "lat": "34.25"}, "lat", "Give the place"),
        ("found", {**GOOD_PLACE, "seen_at": "2026-02-30T10:00"}, "seen_at", "YYYY-MM-DDTHH:MM"),
        ("position", {"lat": "", "lon": "117.3"}, "lat", "No position."),
        ("position", {**GOOD_PLACE, "accuracy": "ten"}, "accuracy", "Enter a number."),
    ],
)
def test_bad_input_is_refused_before_anything_is_done_and_can_be_sent_again(
    setup, kind, fields, field, message
):
    world, case, member, task, client = setup
    action = uuid.uuid4()
    act(client, "accept", task)
    act(client, "start", task)

    response = act(client, kind, None if kind == "position" else task, client_id=action, **fields)

    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert message in body["error"]
    assert any(message in text for text in body["fields"][field])
    task.refresh_from_db()
    assert task.status == "in_progress" and Sighting.objects.count() == 0
    # Refused on reading, not by the service: nothing is remembered for the id.
    assert not FieldAction.objects.filter(client_id=action).exists()


def test_every_bad_field_is_named_at_once(setup):
    world, case, member, task, client = setup

    response = act(client, "report", task, lat="north", lon="117.3", seen_at="soon")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"lat", "seen_at"}


def test_a_photo_that_is_too_large_is_refused_whatever_the_action(setup):
    world, case, member, task, client = setup
    big = SimpleUploadedFile("x.jpg", b"\xff\xd8" + b"0" * (10 * 1024 * 1024 + 5), "image/jpeg")

    response = client.post(
        "/field/actions/",
        {"kind": "accept", "client_id": str(uuid.uuid4()), "task": task.pk, "photo": big},
        **JSON,
    )

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "photo": ["The photo is larger than 10 MB; send a smaller one."]
    }
    task.refresh_from_db()
    assert task.status == "offered"


def test_an_unknown_action_is_refused(setup):
    world, case, member, task, client = setup

    response = act(client, "teleport", task)

    assert response.status_code == 400
    assert response.json()["fields"] == {"kind": ["Unknown action."]}


def test_a_report_that_names_no_kind_or_confidence_is_a_possible_clue(setup):
    world, case, member, task, client = setup
    act(client, "accept", task)

    response = act(client, "report", task, description="A glove", **GOOD_PLACE)

    assert response.json()["ok"]
    sighting = Sighting.objects.get()
    assert (sighting.kind, sighting.confidence) == ("clue", "possible")


def test_finishing_reads_the_tick_for_re_search(setup):
    world, case, member, task, client = setup
    act(client, "accept", task)
    act(client, "start", task)

    assert act(client, "finish", task, coverage="40", needs_research="on").json()["ok"]

    task.refresh_from_db()
    assert task.coverage == 0.4
    assert task.sector.__class__.objects.get(pk=task.sector_id).status == "needs_research"
