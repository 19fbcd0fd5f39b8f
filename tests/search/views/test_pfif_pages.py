"""PFIF through the pages and the API: upload, drafts, confirmation, export, who may do what."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from knox.models import AuthToken

from accounts.models import Organisation
from search.choices import DraftStatus, EventKind
from search.models import Case, CaseEvent, DraftReport
from search.pfif import MAX_DOCUMENT_BYTES, pfif_parse
from search.services import intake
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.intake_data import form_payload, service_values

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "data" / "pfif"
REGISTRY_14 = (DATA / "registry-1.4.xml").read_bytes()


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def upload(client, data: bytes, **extra):
    document = SimpleUploadedFile("people.xml", data, content_type="application/xml")
    return client.post("/pfif/import/", {"document": document, **extra})


def counts():
    return DraftReport.objects.count(), Case.objects.count(), CaseEvent.objects.count()


# --- Import page -----------------------------------------------------------------------------


def test_the_import_page_makes_drafts_and_shows_the_counts(clerk_client):
    response = upload(clerk_client, REGISTRY_14, source="Xuzhou")

    assert response.status_code == 200
    assert response.context["result"].created == 3
    assert "3 drafts created" in response.content.decode()
    assert DraftReport.objects.count() == 3

    again = upload(clerk_client, REGISTRY_14)
    assert "3 drafts updated" in again.content.decode()
    assert DraftReport.objects.count() == 3


def test_a_refused_document_shows_why_and_stores_nothing(clerk_client):
    bad = b'<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.1"/>'

    response = upload(clerk_client, bad)

    assert response.status_code == 400
    assert "PFIF 1.1 is not supported; send 1.2, 1.3 or 1.4." in response.content.decode()
    assert counts() == (0, 0, 0)


def test_a_document_over_5_mb_is_refused_before_it_is_read(clerk_client):
    response = upload(clerk_client, b" " * (MAX_DOCUMENT_BYTES + 1))

    assert response.status_code == 400
    assert "larger than 5 MB" in response.content.decode()
    assert DraftReport.objects.count() == 0


def test_a_supervisor_may_not_import(client, demo_world):
    supervisor = UserFactory(organisation=Organisation.objects.get(code="PC"), roles=["supervisor"])
    client.force_login(supervisor)

    assert upload(client, REGISTRY_14).status_code == 403
    assert DraftReport.objects.count() == 0


# --- Drafts ----------------------------------------------------------------------------------


def child_draft(clerk_client) -> DraftReport:
    upload(clerk_client, REGISTRY_14)
    return DraftReport.objects.get(person_record_id="finder.xuzhou.example/p-1001")


def completion(draft: DraftReport, **overrides) -> dict:
    """The confirm form as the clerk sends it: pre-filled values kept, the rest added."""
    payload = form_payload(
        subject_name=draft.full_name,
        sex=draft.sex,
        date_of_birth="2018-03-14",
        circumstances=draft.description,
        medical_needs="",
        report_channel="referral",
        version=str(draft.version),
    )
    payload.update(overrides)
    return payload


def test_the_draft_list_shows_the_trees_drafts_and_another_county_sees_none(clerk_client, client):
    child_draft(clerk_client)

    listing = clerk_client.get("/drafts/").content.decode()
    assert "张小红" in listing and "Li Jianguo" in listing

    other = UserFactory(organisation=Organisation.objects.get(code="HS"), roles=["clerk"])
    client.force_login(other)
    assert "张小红" not in client.get("/drafts/").content.decode()
    draft = DraftReport.objects.get(person_record_id="finder.xuzhou.example/p-1001")
    assert client.get(f"/drafts/{draft.pk}/").status_code == 404


def test_the_draft_page_prefills_the_report_and_shows_the_registry_notes(clerk_client):
    draft = child_draft(clerk_client)

    response = clerk_client.get(f"/drafts/{draft.pk}/")

    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["subject_name"] == "张小红"
    assert form.initial["reporter_name"] == "张伟"
    assert form.initial["reporter_phone"] == "+86 138 0013 9000"
    page = response.content.decode()
    assert "放学后没有回家。" in page
    assert 'id="pin-map"' in page and "js/pin-map.js" in page
    # The photo URL is shown as text, never loaded.
    assert '<img src="https://finder.xuzhou.example' not in page


def test_confirming_a_draft_opens_the_case_with_the_notes_on_its_timeline(
    clerk_client, django_capture_on_commit_callbacks
):
    draft = child_draft(clerk_client)

    with django_capture_on_commit_callbacks() as callbacks:
        response = clerk_client.post(f"/drafts/{draft.pk}/", completion(draft))

    assert response.status_code == 302, response.content.decode()[:3000]
    case = Case.objects.get()
    assert response["Location"] == f"/cases/{case.pk}/"
    assert case.subject_name == "张小红" and case.category == "young_child"
    assert case.events.filter(kind=EventKind.IMPORTED).count() == 1
    assert len(callbacks) == 1  # dispatch, queued on commit as for any report
    draft.refresh_from_db()
    assert (draft.status, draft.case) == (DraftStatus.CONFIRMED, case)
    timeline = clerk_client.get(f"/cases/{case.pk}/").content.decode()
    assert "放学后没有回家。" in timeline


def test_confirming_shows_possible_duplicates_first_as_intake_does(clerk_client, clerk):
    draft = child_draft(clerk_client)
    earlier = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(values=service_values(subject_name="张小红", estimated_age=8)),
    )

    first = clerk_client.post(f"/drafts/{draft.pk}/", completion(draft))

    assert first.status_code == 200
    assert [c.pk for c in first.context["duplicates"]] == [earlier.pk]
    assert earlier.reference in first.content.decode()
    assert Case.objects.count() == 1

    linked = clerk_client.post(
        f"/drafts/{draft.pk}/",
        completion(draft, duplicates_reviewed="on", link_to=[str(earlier.pk)]),
    )
    assert linked.status_code == 302
    case = Case.objects.exclude(pk=earlier.pk).get()
    assert list(case.linked_cases.all()) == [earlier]


def test_a_confirmation_without_a_place_is_refused_and_stores_nothing(clerk_client):
    draft = child_draft(clerk_client)
    before = counts()

    response = clerk_client.post(
        f"/drafts/{draft.pk}/", completion(draft, latitude="", longitude="", address="")
    )

    assert response.status_code == 400
    assert "Pin the last-seen place" in response.content.decode()
    assert counts() == before


def test_a_draft_can_be_discarded(clerk_client):
    draft = child_draft(clerk_client)

    response = clerk_client.post(f"/drafts/{draft.pk}/discard/", {"version": draft.version})

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == DraftStatus.DISCARDED
    assert clerk_client.post(f"/drafts/{draft.pk}/", completion(draft)).status_code == 400
    assert Case.objects.count() == 0


# --- API -------------------------------------------------------------------------------------


def token_for(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {AuthToken.objects.create(user=user)[1]}"}


def api_import(client, user, data: bytes, content_type="application/xml"):
    return client.post(
        "/api/v1/pfif/import/?source=Xuzhou", data, content_type=content_type, **token_for(user)
    )


def test_the_api_imports_a_document_and_answers_the_counts(client, clerk):
    response = api_import(client, clerk, REGISTRY_14)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 3,
        "updated": 0,
        "skipped": 0,
        "skipped_records": [],
        "notes_unmatched": 0,
    }
    assert api_import(client, clerk, REGISTRY_14, "text/xml").json()["updated"] == 3


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"<pfif", 400, "not well-formed XML"),
        (b'<pfif:pfif xmlns:pfif="urn:other"/>', 400, "urn:other is not PFIF"),
        (b"", 400, "Send the PFIF document"),
        (b" " * (MAX_DOCUMENT_BYTES + 1), 413, "larger than 5242880 bytes"),
    ],
)
def test_the_api_refuses_a_bad_document_with_its_message(client, clerk, data, status, message):
    response = api_import(client, clerk, data)

    assert response.status_code == status
    assert message in str(response.json())
    assert DraftReport.objects.count() == 0


def test_the_api_takes_a_document_larger_than_other_api_bodies(client, clerk, settings):
    # Over the 2.5 MB every other API body is held to, under the 5 MB of a PFIF document.
    padding = b"<!--" + b" " * (3 * 1024 * 1024) + b"-->"
    data = REGISTRY_14.replace(b"<pfif:person>", padding + b"<pfif:person>", 1)
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(data) < MAX_DOCUMENT_BYTES

    response = api_import(client, clerk, data)

    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == 3


def test_the_api_refuses_a_supervisor(client, demo_world):
    supervisor = UserFactory(organisation=Organisation.objects.get(code="PC"), roles=["supervisor"])

    assert api_import(client, supervisor, REGISTRY_14).status_code == 403
    assert DraftReport.objects.count() == 0


def test_the_export_is_pfif_xml_for_those_who_see_the_case_and_404_for_another_county(
    client, clerk
):
    case = intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(service_values()))

    response = client.get(f"/api/v1/cases/{case.pk}/pfif/", **token_for(clerk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    (person,) = pfif_parse(response.content).persons
    assert person.full_name == case.reference
    asking_xml = client.get(
        f"/api/v1/cases/{case.pk}/pfif/", HTTP_ACCEPT="application/xml", **token_for(clerk)
    )
    assert asking_xml.status_code == 200

    other = UserFactory(organisation=Organisation.objects.get(code="HS"), roles=["clerk"])
    refused = client.get(
        f"/api/v1/cases/{case.pk}/pfif/", HTTP_ACCEPT="application/xml", **token_for(other)
    )
    assert refused.status_code == 404
    assert refused["Content-Type"] == "application/json"
    assert client.get(f"/api/v1/cases/{case.pk}/", **token_for(other)).status_code == 404
