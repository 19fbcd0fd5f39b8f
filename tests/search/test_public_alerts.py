"""Public alerts: what is cleared is all that leaves; CAP 1.2 valid and readable by another
parser; updates, widening and ends are new messages; the public page and its tips."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from capparselib.parsers import CAPParser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from lxml import etree
from PIL import Image

from search.cap import cap_document
from search.choices import AlertKind, CaseStatus, EventKind, PublicAlertStatus
from search.models import Alert, CaseEvent, PublicAlert, Sighting
from search.services import public
from search.services.timeline import Origin
from tests.factories import CaseFactory
from tests.search.public_world import SECRETS, child_case, draft

pytestmark = pytest.mark.django_db

CAP_XSD = etree.XMLSchema(etree.parse(str(Path(__file__).parents[1] / "data" / "CAP-v1.2.xsd")))
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    """Tip counts live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return child_case()


def _draft(**texts):
    return draft(**texts)


def _publish(world, draft=None):
    return public.alert_publish(
        origin=Origin(actor=world["coordinator"]), case=world["case"], draft=draft or _draft()
    )


def _xml(message) -> bytes:
    return cap_document(message, base_url="https://beacon.example")


def _valid(document: bytes) -> etree._Element:
    root = etree.fromstring(document)
    CAP_XSD.assertValid(root)
    return root


def test_publish_clears_only_what_was_chosen_and_nothing_else_leaves(world, client):
    alert = _publish(world)
    message = alert.messages.get()
    document = _xml(message).decode()
    page = client.get(alert.get_absolute_url()).content.decode()
    feed = client.get("/alerts/feed.atom").content.decode()
    for text in (document, page, feed, str(alert.content), str(message.content)):
        for secret in SECRETS.values():
            assert secret not in text
        assert "张小明" not in text  # the given name only was cleared
    assert alert.content["name"] == "小明"
    assert "小明" in page and "Red jacket" in page and "0516-110" in page


def test_every_message_validates_against_cap_12_and_reads_back_in_capparselib(world):
    alert = _publish(world)
    public.alert_update(
        origin=Origin(actor=world["coordinator"]),
        alert=alert,
        draft=_draft(clothing="Red jacket, white shoes"),
        expected_version=alert.version,
    )
    alert.refresh_from_db()
    public.alert_end(origin=Origin(actor=world["coordinator"]), alert=alert, found=True)
    messages = list(alert.messages.order_by("number"))
    assert [m.msg_type for m in messages] == ["Alert", "Update", "Cancel"]
    for message in messages:
        document = _xml(message)
        root = _valid(document)
        parsed = CAPParser(document.decode()).as_dict()[0]
        assert str(parsed["cap_message_type"]) == message.msg_type
        assert str(parsed["cap_id"]) == message.identifier
        infos = parsed["cap_info"]
        assert [str(i["cap_language"]) for i in infos] == ["zh-CN", "en-US"]
        assert all(str(i["cap_category"]) == "Rescue" for i in infos)
        references = root.findtext(f"{CAP}references")
        earlier = [m.identifier for m in messages if m.number < message.number]
        assert [ref.split(",")[1] for ref in (references or "").split()] == earlier


def test_the_first_message_carries_circle_polygon_photo_and_web(world):
    alert = _publish(world)
    root = _valid(_xml(alert.messages.get()))
    info = root.find(f"{CAP}info")
    area = info.find(f"{CAP}area")
    lat_lon, km = area.findtext(f"{CAP}circle").split()
    assert km == "300"  # a child, 2 h gone: the Tuanyuan schedule's third step
    lat, lon = (float(v) for v in lat_lon.split(","))
    assert (round(lon, 2), round(lat, 2)) == (round(alert.centre.x, 2), round(alert.centre.y, 2))
    pairs = area.findtext(f"{CAP}polygon").split()
    assert len(pairs) >= 4 and pairs[0] == pairs[-1]
    resource = info.find(f"{CAP}resource")
    assert resource.findtext(f"{CAP}mimeType") == "image/jpeg"
    assert int(resource.findtext(f"{CAP}size")) == alert.photo_size
    assert resource.findtext(f"{CAP}digest") == alert.photo_sha1
    assert info.findtext(f"{CAP}web") == "https://beacon.example" + alert.get_absolute_url()
    assert info.findtext(f"{CAP}urgency") == "Expected"  # the factory's normal priority


@pytest.mark.parametrize(
    ("hours", "child_km", "adult_km"),
    [(0.5, 100, 10), (1.5, 200, 25), (2.5, 300, 25), (5, 500, 50), (30, 500, 200)],
)
def test_the_circle_widens_with_time_by_the_kind_of_person(world, hours, child_km, adult_km):
    case = world["case"]
    at = case.last_seen_at + timedelta(hours=hours)
    assert public.radius_km(case, at) == child_km
    case.category, case.estimated_age = "adult", 40
    assert public.radius_km(case, at) == adult_km


def test_the_beat_widens_once_per_step_and_ends_alerts_of_closed_cases(world):
    alert = _publish(world)
    assert public.alerts_tick() == {"widened": 0, "ended": 0}
    later = timezone.now() + timedelta(hours=2)
    assert public.alerts_tick(now=later) == {"widened": 1, "ended": 0}
    assert public.alerts_tick(now=later) == {"widened": 0, "ended": 0}
    widened = alert.messages.order_by("-number").first()
    assert (widened.msg_type, widened.reason, widened.radius_km) == ("Update", "widened", 500)
    _valid(_xml(widened))
    first = alert.messages.get(number=1)
    assert first.radius_km == 300  # the first message is never rewritten

    case = world["case"]
    case.status, case.outcome = CaseStatus.CLOSED, "found_well"
    case.save()
    assert public.alerts_tick(now=later) == {"widened": 0, "ended": 1}
    alert.refresh_from_db()
    assert alert.status == PublicAlertStatus.FOUND and alert.content == {} and not alert.photo


def test_ending_as_found_thanks_the_public_with_no_detail_and_no_photo(world, client):
    alert = _publish(world)
    assert client.get(f"/alerts/{alert.identifier}/photo/").status_code == 200
    public.alert_end(origin=Origin(actor=world["coordinator"]), alert=alert, found=True)
    page = client.get(alert.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert "has been found" in text
    assert "小明" not in text and "Red jacket" not in text and "<img" not in text
    assert client.get(f"/alerts/{alert.identifier}/photo/").status_code == 404
    cancel = alert.messages.order_by("-number").first()
    info = _valid(_xml(cancel)).find(f"{CAP}info")
    assert info.find(f"{CAP}resource") is None and info.find(f"{CAP}area") is None
    assert "小明" not in _xml(cancel).decode()
    assert client.get("/alerts/feed.atom").content.count(b"<entry") == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: None, "Clear at least one field"),
        (
            lambda w: CaseFactory._meta.model.objects.filter(pk=w["case"].pk).update(
                status=CaseStatus.CLOSED, outcome="found_well"
            ),
            "closed",
        ),
    ],
)
def test_nothing_cleared_or_a_closed_case_is_refused_and_nothing_stored(world, change, message):
    change(world)
    draft = public.AlertDraft(clearance=[]) if "Clear" in message else _draft()
    with pytest.raises(ValidationError, match=message):
        _publish(world, draft)
    assert not PublicAlert.objects.exists()
    assert not CaseEvent.objects.filter(kind=EventKind.PUBLIC_ALERT).exists()


@pytest.mark.parametrize(
    ("clearance", "texts", "field"),
    [
        (["place"], {"place": ""}, "place"),
        (["phone"], {"phone": "call me maybe"}, "phone"),
        (["clothing"], {"clothing": "x" * 1001}, "clothing"),
        (["name", "given_name"], {}, "clearance"),
        (["bank_account"], {}, "clearance"),
    ],
)
def test_bad_drafts_name_their_field(world, clearance, texts, field):
    with pytest.raises(ValidationError) as raised:
        _publish(world, public.AlertDraft(clearance=clearance, texts=texts))
    assert field in raised.value.error_dict
    assert not PublicAlert.objects.exists()


def test_a_second_active_alert_is_refused_and_a_stale_update_too(world):
    alert = _publish(world)
    with pytest.raises(ValidationError, match="active alert already"):
        _publish(world)
    with pytest.raises(ValidationError, match="reload"):
        public.alert_update(
            origin=Origin(actor=world["coordinator"]),
            alert=alert,
            draft=_draft(),
            expected_version=99,
        )


def test_only_coordinators_publish(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        public.alert_publish(
            origin=Origin(actor=world["clerk"]), case=world["case"], draft=_draft()
        )


def test_given_names():
    assert public.given_name_of("张小明") == "小明"
    assert public.given_name_of("Anna  Maria Schmidt") == "Anna"
    assert public.given_name_of("Li") == "Li"


# --- The public page, the feed and tips ---------------------------------------------------------


def test_the_public_page_sets_no_cookie_and_shows_no_staff_data(world, client):
    alert = _publish(world)
    client.force_login(world["coordinator"])
    response = client.get(alert.get_absolute_url() + "?lang=en")
    assert response.status_code == 200
    assert not response.cookies
    text = response.content.decode()
    assert world["coordinator"].username not in text
    assert "csrfmiddlewaretoken" not in text and "/cases/" not in text
    assert "I have seen this person" in text and "<svg" in text  # the tip form and the QR code
    zh = client.get(alert.get_absolute_url() + "?lang=zh-hans").content.decode()
    assert "我看到过此人" in zh


def test_the_feed_links_each_alert_to_its_page_and_its_cap_message(world, client):
    alert = _publish(world)
    response = client.get("/alerts/feed.atom")
    assert response["Content-Type"].startswith("application/atom+xml")
    entries = etree.fromstring(response.content).findall(f"{ATOM}entry")
    assert len(entries) == 1
    links = {link.get("type"): link.get("href") for link in entries[0].findall(f"{ATOM}link")}
    assert links[None].endswith(alert.get_absolute_url())
    cap_href = links["application/cap+xml"]
    assert cap_href.endswith(f"/alerts/{alert.identifier}.xml")
    cap_answer = client.get(cap_href.split("testserver", 1)[1])
    assert cap_answer["Content-Type"].startswith("application/cap+xml")
    _valid(cap_answer.content)


def _tip(client, alert, **overrides):
    data = {
        "seen_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "lat": "34.26",
        "lon": "117.19",
        "description": "A boy in a red jacket at the bus stop",
        "phone": "13800001111",
        **overrides,
    }
    return client.post(f"/alerts/{alert.identifier}/tip/?lang=en", data)


def test_a_tip_is_an_unconfirmed_public_sighting_that_moves_nothing(world, client):
    alert = _publish(world)
    areas_before = world["case"].areas.count()
    response = _tip(client, alert)
    assert response.status_code == 303 and "sent=1" in response["Location"]
    assert not response.cookies
    tip = Sighting.objects.get()
    assert tip.is_public_tip and tip.public_alert == alert and tip.confirmed_at is None
    assert tip.source == "public" and tip.tip_phone == "13800001111"
    assert Alert.objects.filter(case=world["case"], kind=AlertKind.PUBLIC_TIP).count() == 1
    assert world["case"].areas.count() == areas_before
    event = CaseEvent.objects.get(kind=EventKind.SIGHTING_REPORTED)
    assert event.source == "public" and event.actor is None
    thanks = client.get(response["Location"]).content.decode()
    assert "your tip has reached" in thanks


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lat": "91", "lon": "117"}, "latitude must be between"),
        ({"lat": "34", "lon": "181"}, "longitude must be between"),
        ({"lat": "34", "lon": ""}, "both the latitude and the longitude"),
        ({"lat": "", "lon": "", "place": ""}, "Say where"),
        ({"seen_at": "2099-01-01T10:00"}, "in the future"),
        ({"seen_at": "0001-01-01T10:00"}, ""),
        ({"description": ""}, "required"),
        ({"phone": "<script>"}, "Give a phone number"),
        ({"photo": SimpleUploadedFile("x.jpg", b"not an image", "image/jpeg")}, "not a photo"),
        ({"description": "nul \x00 here"}, "Null characters"),
    ],
)
def test_bad_tips_are_refused_with_their_reason_and_nothing_stored(
    world, client, overrides, message
):
    alert = _publish(world)
    response = _tip(client, alert, **overrides)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Sighting.objects.exists()
    assert not Alert.objects.filter(kind=AlertKind.PUBLIC_TIP).exists()


def test_a_tip_photo_is_stripped_like_an_intake_photo(world, client):
    alert = _publish(world)
    image = Image.new("RGB", (20, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x010F] = "CAMERA-MAKER-SECRET"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    response = _tip(client, alert, photo=SimpleUploadedFile("t.jpg", out.getvalue(), "image/jpeg"))
    assert response.status_code == 303
    stored = Sighting.objects.get().photo.read()
    assert b"CAMERA-MAKER-SECRET" not in stored


def test_a_place_name_is_geocoded_when_no_coordinates_come(world, client, nominatim):
    alert = _publish(world)
    response = _tip(client, alert, lat="", lon="", place="彭城市中山北路 1 号")
    page = response.content.decode()
    assert response.status_code == 303, page[page.find("tip-h") :][:3000]
    tip = Sighting.objects.get()
    assert tip.description.startswith("A boy") and tip.point is not None


def test_the_honeypot_answers_as_success_and_keeps_nothing(world, client):
    alert = _publish(world)
    response = _tip(client, alert, website="http://spam.example")
    assert response.status_code == 303
    assert not Sighting.objects.exists()


def test_tips_over_the_rate_get_429_per_address_and_per_alert(world, client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.PUBLIC_ALERT = {**settings.PUBLIC_ALERT, "TIP_RATE_PER_ADDRESS": "3/m"}
    alert = _publish(world)
    answers = [_tip(client, alert).status_code for _ in range(5)]
    assert answers == [303, 303, 303, 429, 429]
    assert Sighting.objects.count() == 3
    other = client.post(f"/alerts/{alert.identifier}/tip/", {}, REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 400  # another address is not limited by the first
    cache.clear()
    settings.PUBLIC_ALERT = {
        **settings.PUBLIC_ALERT,
        "TIP_RATE_PER_ADDRESS": "100/m",
        "TIP_RATE_PER_ALERT": "2/m",
    }
    answers = [
        client.post(f"/alerts/{alert.identifier}/tip/", {}, REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(4)
    ]
    assert answers == [400, 400, 429, 429]


def test_a_tip_for_an_ended_alert_is_refused(world, client):
    alert = _publish(world)
    public.alert_end(origin=Origin(actor=world["coordinator"]), alert=alert, found=False)
    assert _tip(client, alert).status_code == 410
    assert not Sighting.objects.exists()


def test_an_unknown_alert_is_404_everywhere(client, db):
    for path in ("/alerts/nope/", "/alerts/nope.xml", "/alerts/nope/photo/"):
        assert client.get(path).status_code == 404
    assert client.post("/alerts/nope/tip/", {}).status_code == 404


def test_a_tip_reaches_a_partner_only_once_a_coordinator_confirms_it(world, client):
    from search.models import OutboxMessage
    from tests.factories import AidRequestFactory
    from tests.search.federation.conftest import make_partner

    partner = make_partner("PTP", 34.65).partner
    request = AidRequestFactory(
        direction="outbound", partner=partner, case=world["case"], status="active"
    )
    alert = _publish(world)
    assert _tip(client, alert).status_code == 303
    tip = Sighting.objects.get()
    assert not OutboxMessage.objects.filter(request=request, type="sighting").exists()
    assert world["case"].areas.filter(is_current=True).get().reason == "initial"

    area = public.sighting_confirm(origin=Origin(actor=world["coordinator"]), sighting=tip)
    assert area is not None and area.reason == "sighting"
    sent = OutboxMessage.objects.get(request=request, type="sighting")
    assert "confirmed" in str(sent.body)
    assert "13800001111" not in str(sent.body)  # the tipster's phone stays with us
    # A second confirmation changes nothing and sends nothing more.
    assert public.sighting_confirm(origin=Origin(actor=world["coordinator"]), sighting=tip) is None
    assert OutboxMessage.objects.filter(request=request, type="sighting").count() == 1


@pytest.mark.parametrize("priority", [1, 2, 3])
@pytest.mark.parametrize("with_area", [True, False])
def test_every_kind_of_message_validates(world, priority, with_area):
    case = world["case"]
    case.priority = priority
    case.save()
    if not with_area:
        case.areas.all().delete()
    alert = _publish(
        world,
        public.AlertDraft(clearance=["name", "description"], texts={"description": "短发 & <b>"}),
    )
    public.alerts_tick(now=timezone.now() + timedelta(hours=5))
    alert.refresh_from_db()
    public.alert_end(origin=Origin(actor=world["coordinator"]), alert=alert, found=False)
    messages = list(alert.messages.order_by("number"))
    assert [m.reason for m in messages] == ["published", "widened", "withdrawn"]
    for message in messages:
        root = _valid(_xml(message))
        CAPParser(_xml(message).decode())
        polygon = root.find(f"{CAP}info/{CAP}area/{CAP}polygon")
        assert (polygon is not None) == (with_area and message.reason != "withdrawn")
    first = _valid(_xml(messages[0])).find(f"{CAP}info")
    assert (
        first.findtext(f"{CAP}urgency") == {1: "Immediate", 2: "Immediate", 3: "Expected"}[priority]
    )
    assert first.findtext(f"{CAP}severity") == {1: "Extreme", 2: "Severe", 3: "Moderate"}[priority]
    assert "短发 & <b>" in first.findtext(f"{CAP}description")


def test_the_pfif_export_carries_what_the_alert_cleared_and_its_public_photo(world, client):
    alert = _publish(world)
    client.force_login(world["coordinator"])
    response = client.get(f"/api/v1/cases/{world['case'].pk}/pfif/")
    assert response.status_code == 200, response.content[:500]
    document = response.content.decode()
    assert "<pfif:full_name>小明</pfif:full_name>" in document
    assert f"/alerts/{alert.identifier}/photo/</pfif:photo_url>" in document
    for secret in SECRETS.values():
        assert secret not in document
    public.alert_end(origin=Origin(actor=world["coordinator"]), alert=alert, found=True)
    ended = client.get(f"/api/v1/cases/{world['case'].pk}/pfif/").content.decode()
    assert "小明" not in ended and "photo_url" not in ended
