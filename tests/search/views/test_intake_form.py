"""The report form, through the real views: one report makes one case and one event."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from search.models import Case, CaseEvent
from tests.search.intake_data import form_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), "red")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x8825] = {1: "N", 2: (34.0, 15.0, 0.0), 3: "E", 4: (117.0, 27.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def assert_nothing_written():
    assert Case.objects.count() == 0
    assert CaseEvent.objects.count() == 0


def test_full_report_creates_exactly_one_case_and_one_event(clerk_client, clerk):
    photo = SimpleUploadedFile("kid.jpg", jpeg_with_gps(), content_type="image/jpeg")

    response = clerk_client.post("/cases/new/", {**form_payload(), "photo": photo})

    assert response.status_code == 302, response.content.decode()[:3000]
    case = Case.objects.get()
    assert response["Location"] == f"/cases/{case.pk}/"
    year = timezone.localdate().year
    assert case.reference == f"PC-{year}-000001"
    assert case.created_by == clerk
    assert case.reporter_phone == "+8613800138000"
    assert case.priority == 1  # a young child is always critical
    assert (case.last_seen_point.x, case.last_seen_point.y) == pytest.approx((117.45, 34.30))
    assert case.location_source == "pin"
    event = CaseEvent.objects.get()
    assert (event.case, event.kind, event.actor, event.source) == (case, "created", clerk, "web")
    assert event.ip == "127.0.0.1"


def test_stored_photo_has_no_location_or_camera_data(clerk_client):
    photo = SimpleUploadedFile("kid.jpg", jpeg_with_gps(), content_type="image/jpeg")
    clerk_client.post("/cases/new/", {**form_payload(), "photo": photo})
    case = Case.objects.get()

    with case.photo.open("rb") as stored, Image.open(stored) as image:
        exif = image.getexif()
        assert image.size == (64, 48)
    assert 0x8825 not in exif and 0x010F not in exif
    assert case.photo.name.endswith(".jpg") and "kid" not in case.photo.name


def test_photo_is_served_only_to_those_who_see_the_case(clerk_client, client, demo_world):
    from tests.factories import UserFactory

    photo = SimpleUploadedFile("kid.png", jpeg_with_gps(), content_type="image/jpeg")
    clerk_client.post("/cases/new/", {**form_payload(), "photo": photo})
    case = Case.objects.get()

    response = clerk_client.get(f"/cases/{case.pk}/photo/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    outsider = UserFactory(roles=["clerk"])
    client.force_login(outsider)
    assert client.get(f"/cases/{case.pk}/photo/").status_code == 404


def field_errors(response) -> dict:
    form = response.context["form"]
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


BAD_INPUTS = [
    (
        "future",
        {"last_seen_at": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")},
        "last_seen_at",
        "in the future",
    ),
    (
        "before birth",
        {"date_of_birth": "2030-01-01", "last_seen_at": "2025-01-01T10:00"},
        "last_seen_at",
        "before the date of birth",
    ),
    ("birth in year 1", {"date_of_birth": "0001-01-01"}, "date_of_birth", "more than 120 years"),
    ("birth tomorrow", {"date_of_birth": "2999-01-01"}, "last_seen_at", "before the date of birth"),
    (
        "last seen in year 1900",
        {"date_of_birth": "", "estimated_age": "80", "last_seen_at": "1900-01-01T10:00"},
        "last_seen_at",
        "too long ago",
    ),
    (
        "offset of 22 hours",
        {"last_seen_at": "2026-11-24T10:00+22:00"},
        "last_seen_at",
        "offset is out of range",
    ),
    ("latitude", {"latitude": "91"}, "latitude", "less than or equal to 90"),
    ("longitude", {"longitude": "-180.5"}, "longitude", "greater than or equal to -180"),
    ("no place", {"latitude": "", "longitude": "", "address": ""}, "address", "Pin the last-seen"),
    ("half a pin", {"longitude": ""}, "latitude", "both latitude and longitude"),
    ("missing name", {"subject_name": ""}, "subject_name", "required"),
    ("missing category", {"category": ""}, "category", "required"),
    ("unknown category", {"category": "alien"}, "category", "not one of the available choices"),
    ("phone letters", {"reporter_phone": "call me maybe"}, "reporter_phone", "not a phone number"),
    ("phone too short", {"reporter_phone": "12345"}, "reporter_phone", "cannot be dialled"),
    ("overlong name", {"subject_name": "名" * 201}, "subject_name", "at most 200"),
    ("overlong text", {"circumstances": "x" * 4001}, "circumstances", "at most 4000"),
    ("age and birth date", {"estimated_age": "7"}, "estimated_age", "not both"),
    ("absurd height", {"height_cm": "900"}, "height_cm", "less than or equal to 250"),
]


@pytest.mark.parametrize(
    ("label", "overrides", "field", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_refused_with_a_message_naming_the_field(
    clerk_client, label, overrides, field, message
):
    response = clerk_client.post("/cases/new/", form_payload(**overrides))

    assert response.status_code == 400
    errors = field_errors(response)
    assert field in errors, errors
    assert any(message in e for e in errors[field]), errors[field]
    assert_nothing_written()


def upload(name: str, content: bytes, content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (lambda: upload("notes.jpg", b"just some text, not a picture"), "not a photo"),
        (lambda: upload("doc.jpg", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF"), "not a photo"),
        (lambda: upload("big.jpg", b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024 + 1)), "10 MB"),
        (
            lambda: upload("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
            "not a photo",
        ),
    ],
    ids=["text", "pdf-named-jpg", "too-large", "broken-gif"],
)
def test_bad_photo_is_refused_and_nothing_is_saved(clerk_client, photo, message):
    response = clerk_client.post("/cases/new/", {**form_payload(), "photo": photo()})

    assert response.status_code == 400
    assert any(message in e for e in field_errors(response)["photo"])
    assert_nothing_written()


def test_a_gif_that_is_an_image_is_refused_by_format(clerk_client):
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="GIF")

    response = clerk_client.post(
        "/cases/new/", {**form_payload(), "photo": upload("a.jpg", out.getvalue())}
    )

    assert "JPEG, PNG or WebP" in field_errors(response)["photo"][0]
    assert_nothing_written()


def test_errors_come_in_chinese_for_a_chinese_clerk(clerk_client):
    clerk_client.post("/i18n/setlang/", {"language": "zh-hans"})

    response = clerk_client.post("/cases/new/", form_payload(reporter_phone="abc", latitude="95"))

    errors = field_errors(response)
    assert "不是电话号码" in errors["reporter_phone"][0]
    assert "90" in errors["latitude"][0] and "小于或等于" in errors["latitude"][0]
    assert_nothing_written()


def test_point_outside_every_jurisdiction_needs_confirmation(clerk_client):
    far = {"latitude": "30.0", "longitude": "100.0"}

    first = clerk_client.post("/cases/new/", form_payload(**far))
    assert first.status_code == 400
    assert "outside every known jurisdiction" in field_errors(first)["confirm_outside"][0]
    assert_nothing_written()

    second = clerk_client.post("/cases/new/", form_payload(**far, confirm_outside="on"))
    assert second.status_code == 302
    assert Case.objects.count() == 1


def test_form_page_renders_map_and_every_field_has_a_label(clerk_client):
    response = clerk_client.get("/cases/new/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="pin-map"' in page and "vendor/leaflet/leaflet.js" in page
    form = response.context["form"]
    for field in form.visible_fields():
        if field.name != "confirm_outside":
            assert f'for="{field.id_for_label}"' in page or field.widget_type == "checkbox", (
                field.name
            )
