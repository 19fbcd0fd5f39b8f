"""Publishing a public alert from the case page, and triaging the tips it brings in, through
the real views."""

import io
import json
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from search.geo import SRID
from search.models import PublicAlert, PublicAlertMessage, Sighting
from search.services import areas, intake, lifecycle, public
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world

pytestmark = pytest.mark.django_db

# Values the public must never see, one per field a preview could leak from.
PLANTED = {
    "reporter_name": "RPTNAMEZ9",
    "medical_needs": "MEDNEEDSZ9",
    "field_notes": "FIELDNOTESZ9",
    "circumstances": "CIRCUMZ9",
    "medication": "MEDICATIONZ9",
}
TIP_PHONE = "+86 139 0000 4321"


def _jpeg() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, format="JPEG")
    return SimpleUploadedFile("p.jpg", out.getvalue(), content_type="image/jpeg")


@pytest.fixture
def setup(client):
    world = build_world()  # world.clerk is clerk and coordinator
    case = intake.case_open(
        origin=Origin(actor=world.clerk),
        data=intake.CaseInput(
            {
                "subject_name": "王小明",
                "category": "adult",
                "estimated_age": 40,
                "height_cm": 172,
                "clothing": "Red padded coat",
                "hair": "short grey",
                "last_seen_at": timezone.now() - timedelta(hours=2),
                "last_seen_point": Point(*LAST_SEEN, srid=SRID),
                "last_seen_place": "17 Secret Lane",
                "location_source": "pin",
                "reporter_phone": "+8613800138000",
                "report_channel": "other",
                **PLANTED,
            },
            photo=_jpeg(),
        ),
    )
    areas.dispatch_case(case_id=case.pk)
    client.force_login(world.clerk)
    return world, case, client


CHOICES = {
    "name_choice": "given_name",
    "clear_age": "on",
    "clear_clothing": "on",
    "clothing": "Red coat",
    "clear_place": "on",
    "place": "Yunlong district, near the lake gate",
    "clear_phone": "on",
    "phone": "0516-110",
}


def _publish(client, case, **extra):
    return client.post(f"/cases/{case.pk}/alert/", {**CHOICES, **extra, "publish": "1"})


def _body(response) -> str:
    return response.content.decode()


def test_form_starts_from_the_case_wording_with_the_place_empty(setup):
    world, case, client = setup

    response = client.get(f"/cases/{case.pk}/alert/")

    assert response.status_code == 200
    form = response.context["form"]
    assert form["clothing"].value() == "Red padded coat"
    assert form["description"].value() == "short grey"
    assert form["place"].value() == ""
    assert "clear_photo" in form.fields  # the case has a photo to offer
    assert "Publish a public alert" in _body(response)


def test_preview_shows_only_the_cleared_values(setup):
    world, case, client = setup

    response = client.post(f"/cases/{case.pk}/alert/", {**CHOICES, "preview": "1"})

    page = _body(response)
    assert response.status_code == 200
    assert "小明" in page and "王小明" not in page  # the given name only
    assert "Red coat" in page and "Yunlong district" in page and "0516-110" in page
    # Height was not cleared. (A bare "172" can turn up in a CSRF token or an id.)
    assert "172 cm" not in page and "172厘米" not in page and "172 厘米" not in page
    assert f"/cases/{case.pk}/photo/" not in page  # nor the photo
    assert "17 Secret Lane" not in page
    for value in PLANTED.values():
        assert value not in page
    assert 'name="publish"' in page
    assert not PublicAlert.objects.exists()  # a preview stores nothing


def test_a_cleared_photo_is_previewed_from_the_case_photo_view(setup):
    world, case, client = setup

    response = client.post(
        f"/cases/{case.pk}/alert/", {**CHOICES, "clear_photo": "on", "preview": "1"}
    )

    assert f"/cases/{case.pk}/photo/" in _body(response)


def test_publishing_stores_only_the_cleared_values(setup):
    world, case, client = setup

    response = _publish(client, case)

    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    alert = PublicAlert.objects.get(case=case)
    done = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert done == [
        f"The public alert is published. Public page: http://testserver/alerts/{alert.identifier}/"
    ]
    message = alert.messages.get()
    assert message.msg_type == "Alert"
    assert alert.clearance == ["given_name", "age", "clothing", "place", "phone"]
    assert alert.content["name"] == "小明" and alert.content["clothing"] == "Red coat"
    stored = json.dumps([alert.content, message.content], ensure_ascii=False)
    for value in [*PLANTED.values(), "王小明", "17 Secret Lane", "172"]:
        assert value not in stored
    page = _body(client.get(f"/cases/{case.pk}/"))
    assert "Public alert" in page and "Update the alert" in page
    assert f'href="{alert.get_absolute_url()}"' in page
    assert f'href="{message.get_absolute_url()}"' in page


def test_nothing_cleared_is_a_form_error_and_stores_nothing(setup):
    world, case, client = setup

    preview = client.post(f"/cases/{case.pk}/alert/", {"clothing": "x", "preview": "1"})
    publish = client.post(f"/cases/{case.pk}/alert/", {"clothing": "x", "publish": "1"})

    for response in (preview, publish):
        assert response.status_code == 400
        assert "Clear at least one field for the public." in _body(response)
    assert not PublicAlert.objects.exists()


def test_a_cleared_text_left_empty_is_an_error_on_its_field(setup):
    world, case, client = setup

    response = client.post(
        f"/cases/{case.pk}/alert/", {"clear_place": "on", "place": " ", "preview": "1"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors["place"]
    assert not PublicAlert.objects.exists()


def test_a_closed_case_offers_nothing_and_is_refused(setup):
    world, case, client = setup
    lifecycle.case_close(origin=Origin(actor=world.clerk), case=case, outcome="found_well")

    page = client.get(f"/cases/{case.pk}/alert/")
    response = _publish(client, case)

    assert "The case is closed" in _body(page) and 'name="preview"' not in _body(page)
    assert response.status_code == 400
    assert not PublicAlert.objects.exists()
    assert f'/cases/{case.pk}/alert/"' not in _body(client.get(f"/cases/{case.pk}/"))


def test_an_update_is_an_update_message_after_the_first(setup):
    world, case, client = setup
    _publish(client, case)
    alert = PublicAlert.objects.get(case=case)

    form = client.get(f"/cases/{case.pk}/alert/")
    response = _publish(client, case, clothing="Red coat, blue scarf", version=alert.version)

    assert "Update the public alert" in _body(form)
    assert form.context["form"]["place"].value() == "Yunlong district, near the lake gate"
    assert form.context["form"]["version"].value() == 1
    assert response.status_code == 302
    first, second = alert.messages.order_by("number")
    assert (first.msg_type, second.msg_type) == ("Alert", "Update")
    assert first.identifier == alert.identifier
    assert second.identifier == f"{alert.identifier}-2"
    assert second.content["clothing"] == "Red coat, blue scarf"
    alert.refresh_from_db()
    assert alert.version == 2


def test_an_update_from_a_stale_form_is_refused(setup):
    world, case, client = setup
    _publish(client, case)

    response = _publish(client, case, clothing="Green", version=7)

    assert response.status_code == 400
    assert "Someone changed this alert meanwhile" in _body(response)
    assert PublicAlertMessage.objects.count() == 1


def test_ending_as_found_sends_a_cancel_and_clears_the_content(setup):
    world, case, client = setup
    _publish(client, case)
    alert = PublicAlert.objects.get(case=case)

    response = client.post(
        f"/cases/{case.pk}/alert/end/", {"outcome": "found", "version": alert.version}
    )

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "found" and alert.content == {}
    assert alert.messages.order_by("-number").first().msg_type == "Cancel"
    page = _body(client.get(f"/cases/{case.pk}/"))
    assert "Ended: person found" in page and "Publish a public alert" in page


def test_ending_without_an_active_alert_says_so(setup):
    world, case, client = setup

    response = client.post(
        f"/cases/{case.pk}/alert/end/", {"outcome": "found", "version": 1}, follow=True
    )

    assert "no active public alert" in _body(response)
    assert not PublicAlertMessage.objects.exists()


@pytest.mark.parametrize("roles", [["clerk"], ["field"], ["supervisor"]])
def test_other_roles_are_refused(setup, roles):
    world, case, client = setup
    client.force_login(UserFactory(organisation=world.city, roles=roles))

    assert client.get(f"/cases/{case.pk}/alert/").status_code == 403
    assert _publish(client, case).status_code == 403
    assert client.post(f"/cases/{case.pk}/alert/end/", {"outcome": "found"}).status_code == 403
    assert not PublicAlert.objects.exists()
    if roles != ["field"]:
        assert "Public alert" not in _body(client.get(f"/cases/{case.pk}/"))


def test_a_coordinator_of_another_county_gets_404(setup):
    world, case, client = setup
    client.force_login(UserFactory(roles=["coordinator"]))

    assert client.get(f"/cases/{case.pk}/alert/").status_code == 404
    assert _publish(client, case).status_code == 404
    assert not PublicAlert.objects.exists()


# --- Tips on the coordinator's map ---------------------------------------------------------------


@pytest.fixture
def tip(setup):
    world, case, client = setup
    alert = public.alert_publish(
        origin=Origin(actor=world.clerk), case=case, draft=public.AlertDraft(clearance=["age"])
    )
    sighting = public.tip_record(
        alert=alert,
        tip=public.TipInput(
            seen_at=timezone.now() - timedelta(minutes=10),
            point=Point(LAST_SEEN[0] + 0.016, LAST_SEEN[1], srid=SRID),
            description="An old man in a red coat by the bus stop",
            phone=TIP_PHONE,
            photo=_jpeg(),
        ),
    )
    return sighting


def _map_data(page: str) -> dict:
    return json.loads(page.split('id="map-data" type="application/json">')[1].split("</script>")[0])


def test_the_coordinator_triages_a_tip_with_its_phone_and_it_does_not_move_the_area(setup, tip):
    world, case, client = setup
    before = case.areas.get(is_current=True)

    response = client.get(f"/cases/{case.pk}/map/")

    page = _body(response)
    assert "Tips to triage" in page and "by the bus stop" in page and TIP_PHONE in page
    assert f"/cases/{case.pk}/map/sightings/{tip.pk}/photo/" in page
    assert f"/cases/{case.pk}/map/sightings/{tip.pk}/confirm/" in page
    points = _map_data(page)["sightings"]
    assert [p["public"] for p in points if p["id"] == tip.pk] == [True]
    assert _map_data(page)["triage"] is True
    assert case.areas.get(is_current=True).pk == before.pk


def test_the_map_poll_carries_the_tip_and_its_phone_only_for_coordinators(setup, tip):
    world, case, client = setup

    polled = client.get(f"/cases/{case.pk}/map/sightings/").json()

    assert [t["id"] for t in polled["tips"]] == [tip.pk]
    assert polled["tips"][0]["phone"] == TIP_PHONE
    assert any(p["id"] == tip.pk and p["public"] for p in polled["sightings"])
    for roles in (["supervisor"], ["clerk"]):
        client.force_login(UserFactory(organisation=world.city, roles=roles))
        page = client.get(f"/cases/{case.pk}/map/")
        polled = client.get(f"/cases/{case.pk}/map/sightings/")
        assert page.status_code == 200 and polled.status_code == 200
        assert TIP_PHONE not in _body(page) and TIP_PHONE not in _body(polled)
        assert "Public tip" in _body(page)  # marked, without the phone
        assert polled.json()["tips"] == []
        assert client.get(f"/cases/{case.pk}/map/sightings/{tip.pk}/photo/").status_code == 403
    api = client.get(f"/api/v1/cases/{case.pk}/sightings/")
    assert api.status_code == 200 and "0000 4321" not in _body(api)


def test_the_tip_photo_is_served_to_the_coordinator(setup, tip):
    world, case, client = setup

    response = client.get(f"/cases/{case.pk}/map/sightings/{tip.pk}/photo/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_confirming_a_public_tip_recentres_the_area(setup, tip):
    world, case, client = setup

    response = client.post(f"/cases/{case.pk}/map/sightings/{tip.pk}/confirm/")

    assert response.status_code == 302
    current = case.areas.get(is_current=True)
    assert current.reason == "sighting"
    assert current.centre.x == pytest.approx(tip.point.x) and current.centre.y == pytest.approx(
        tip.point.y
    )
    assert Sighting.objects.get(pk=tip.pk).confirmed_at is not None
    assert client.get(f"/cases/{case.pk}/map/sightings/").json()["tips"] == []
