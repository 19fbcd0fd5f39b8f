"""PFIF in and out: parsing other registries' documents safely, drafts, confirmation into a
case through intake, and a case's export limited to its public clearance."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Organisation, User
from search.choices import DraftStatus, EventKind
from search.geo import SRID
from search.models import Case, CaseEvent, DraftReport, PublicAlert
from search.pfif import (
    MAX_DOCUMENT_BYTES,
    PFIF_1_4,
    PfifNote,
    PfifPerson,
    pfif_document,
    pfif_parse,
)
from search.services import field, intake, interchange, lifecycle, queue
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.intake_data import PIN_LAT, PIN_LON, service_values

DATA = Path(__file__).resolve().parents[1] / "data" / "pfif"
REGISTRY_14 = (DATA / "registry-1.4.xml").read_bytes()
REGISTRY_12 = (DATA / "registry-1.2.xml").read_bytes()
REGISTRY_13 = (DATA / "registry-1.3.xml").read_bytes()


def doc(body: str, namespace: str = PFIF_1_4) -> bytes:
    return f'<?xml version="1.0"?><pfif:pfif xmlns:pfif="{namespace}">{body}</pfif:pfif>'.encode()


PERSON = (
    "<pfif:person><pfif:person_record_id>x.example/1</pfif:person_record_id>"
    "<pfif:source_date>2026-11-01T10:00:00Z</pfif:source_date>"
    "<pfif:full_name>Someone</pfif:full_name>{notes}</pfif:person>"
)
NOTE = (
    "<pfif:note><pfif:note_record_id>x.example/n1</pfif:note_record_id>"
    "<pfif:author_name>A</pfif:author_name>"
    "<pfif:source_date>2026-11-01T11:00:00Z</pfif:source_date>{text}</pfif:note>"
)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE pfif [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>
<pfif:person_record_id>x.example/1</pfif:person_record_id>
<pfif:source_date>2026-11-01T10:00:00Z</pfif:source_date>
<pfif:full_name>&lol3;</pfif:full_name></pfif:person></pfif:pfif>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE pfif [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>
<pfif:person_record_id>x.example/1</pfif:person_record_id>
<pfif:source_date>2026-11-01T10:00:00Z</pfif:source_date>
<pfif:full_name>&secret;</pfif:full_name></pfif:person></pfif:pfif>"""


def without(field_name: str) -> bytes:
    body = PERSON.format(notes="")
    start = body.index(f"<pfif:{field_name}>")
    end = body.index(f"</pfif:{field_name}>") + len(f"</pfif:{field_name}>")
    return doc(body[:start] + body[end:])


# Each refused document and what the refusal says.
BAD_DOCUMENTS = {
    "malformed": (b"<pfif:pfif xmlns:pfif='http://zesty.ca/pfif/1.4'><pfif:person>", "well-formed"),
    "pfif 1.1": (doc(PERSON.format(notes=""), "http://zesty.ca/pfif/1.1"), "PFIF 1.1 is not"),
    "random namespace": (doc(PERSON.format(notes=""), "urn:example:people"), "urn:example:people"),
    "too large": (doc(PERSON.format(notes="")) + b" " * MAX_DOCUMENT_BYTES, "larger than 5 MB"),
    "billion laughs": (BILLION_LAUGHS, "DTD"),
    "external entity": (EXTERNAL_ENTITY, "DTD"),
    "no full_name": (without("full_name"), "Person 1 (x.example/1) has no full_name"),
    "no source_date": (without("source_date"), "Person 1 (x.example/1) has no source_date"),
    "no person_record_id": (without("person_record_id"), "Person 1 has no person_record_id"),
    "note without text": (
        doc(PERSON.format(notes=NOTE.format(text=""))),
        "Note 1 of person 1 (x.example/1) has no text",
    ),
}


# --- Parsing (no database) -------------------------------------------------------------------


def test_a_registrys_1_4_document_gives_three_persons_with_nested_and_top_level_notes():
    document = pfif_parse(REGISTRY_14)

    assert document.version == "1.4"
    assert [p.person_record_id for p in document.persons] == [
        "finder.xuzhou.example/p-1001",
        "finder.xuzhou.example/p-1002",
        "finder.xuzhou.example/p-1003",
    ]
    first, second, third = document.persons
    assert (first.full_name, first.given_name, first.family_name) == ("张小红", "小红", "张")
    assert (first.sex, first.date_of_birth, first.home_postal_code) == (
        "female",
        "2018-03-14",
        "221000",
    )
    assert [n.note_record_id for n in first.notes] == ["finder.xuzhou.example/n-5001"]
    # Top-level notes join the person they name.
    assert [n.text for n in second.notes] == ["Seen at the bus station around 19:00."]
    assert second.notes[0].last_known_location == "Near the bus station"
    assert [n.person_record_id for n in third.notes] == ["finder.xuzhou.example/p-1003"]
    assert document.unmatched_notes == []


def test_pfif_1_2_first_and_last_name_and_home_zip_map_onto_1_4_names():
    (person,) = pfif_parse(REGISTRY_12).persons

    assert person.full_name == "Ming Chen"
    assert (person.given_name, person.family_name) == ("Ming", "Chen")
    assert person.home_postal_code == "223800"
    assert person.notes[0].status == "information_sought"


def test_pfif_1_3_keeps_its_full_name_and_reads_first_and_last_as_given_and_family():
    document = pfif_parse(REGISTRY_13)

    (person,) = document.persons
    assert document.version == "1.3"
    assert (person.full_name, person.given_name, person.family_name) == ("赵 磊", "磊", "赵")
    assert (person.age, person.home_postal_code) == ("12", "221100")


@pytest.mark.parametrize("name", list(BAD_DOCUMENTS))
def test_a_bad_document_is_refused_with_what_is_wrong(name):
    data, message = BAD_DOCUMENTS[name]

    with pytest.raises(ValidationError) as refused:
        pfif_parse(data)

    assert message in " ".join(refused.value.message_dict["document"])


def test_the_entity_never_reaches_the_text():
    # Even read as text, /etc/passwd's contents are nowhere in the refusal.
    with pytest.raises(ValidationError) as refused:
        pfif_parse(EXTERNAL_ENTITY)
    assert "root:" not in str(refused.value)


def test_a_written_1_4_document_reads_back_the_same():
    person = PfifPerson(
        person_record_id="beacon.local/PC-2026-000001",
        source_date="2026-11-01T10:00:00Z",
        full_name="李华 <&>",
        sex="female",
        age="34",
        description="line one\nline two",
        notes=[
            PfifNote(
                note_record_id="beacon.local/PC-2026-000001.event-1",
                person_record_id="beacon.local/PC-2026-000001",
                author_name="彭城市",
                source_date="2026-11-01T10:00:00Z",
                status="believed_missing",
                text="Reported missing.",
            )
        ],
    )

    data = pfif_document([person])

    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    (back,) = pfif_parse(data).persons
    assert back == person


# --- Importing -------------------------------------------------------------------------------


def counts() -> tuple[int, int, int]:
    return DraftReport.objects.count(), Case.objects.count(), CaseEvent.objects.count()


def import_as(user, data: bytes, **kwargs) -> interchange.ImportResult:
    return interchange.pfif_import(
        origin=Origin(actor=user), organisation=user.organisation, data=data, **kwargs
    )


@pytest.mark.django_db
def test_each_person_of_another_registrys_document_becomes_one_draft(clerk):
    result = import_as(clerk, REGISTRY_14, source_label="Xuzhou")

    assert (result.created, result.updated, result.skipped) == (3, 0, 0)
    drafts = {d.person_record_id: d for d in DraftReport.objects.all()}
    assert len(drafts) == 3
    child = drafts["finder.xuzhou.example/p-1001"]
    assert (child.full_name, child.sex, child.date_of_birth_text) == (
        "张小红",
        "female",
        "2018-03-14",
    )
    assert child.source_name == "徐州寻人平台"  # the record's own, over the label
    assert child.home_address == "解放路 12 号, 徐州, 江苏, 221000, CN"
    assert child.photo_url == "https://finder.xuzhou.example/photos/1001.jpg"
    assert (child.organisation, child.created_by, child.status) == (
        clerk.organisation,
        clerk,
        DraftStatus.DRAFT,
    )
    assert [n["note_record_id"] for n in child.notes] == ["finder.xuzhou.example/n-5001"]
    elder = drafts["finder.xuzhou.example/p-1002"]
    assert (elder.age, elder.estimated_age, elder.source_name) == ("75-80", 77, "Xuzhou")
    assert elder.notes[0]["status"] == "believed_missing"
    assert drafts["finder.xuzhou.example/p-1003"].sex == "unknown"  # PFIF "other"
    # An import opens no case and so dispatches nothing.
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_1_2_and_1_3_documents_become_drafts_too(clerk):
    import_as(clerk, REGISTRY_12)
    import_as(clerk, REGISTRY_13)

    names = dict(DraftReport.objects.values_list("person_record_id", "full_name"))
    assert names == {
        "old.registry.example/person.77": "Ming Chen",
        "help.example.org/1.3-42": "赵 磊",
    }
    assert DraftReport.objects.get(full_name="Ming Chen").home_address == "Suqian, 223800"


@pytest.mark.django_db
def test_the_same_records_sent_again_update_their_drafts_and_merge_notes(clerk):
    import_as(clerk, REGISTRY_14)
    again = REGISTRY_14.replace(b"Walks with a stick", b"Uses a walking frame").replace(
        b"n-5003", b"n-5004"
    )

    result = import_as(clerk, again)

    assert (result.created, result.updated, result.skipped) == (0, 3, 0)
    assert DraftReport.objects.count() == 3
    elder = DraftReport.objects.get(person_record_id="finder.xuzhou.example/p-1002")
    assert elder.description.startswith("Uses a walking frame")
    assert elder.version == 2
    colleague = DraftReport.objects.get(person_record_id="finder.xuzhou.example/p-1003")
    # The note sent again under a new id is a new note; the earlier one stays.
    assert sorted(n["note_record_id"] for n in colleague.notes) == [
        "finder.xuzhou.example/n-5003",
        "finder.xuzhou.example/n-5004",
    ]


@pytest.mark.django_db
def test_a_top_level_note_alone_joins_its_existing_draft(clerk):
    import_as(clerk, REGISTRY_13)
    note_only = doc(
        "<pfif:note><pfif:note_record_id>help.example.org/n-9</pfif:note_record_id>"
        "<pfif:person_record_id>help.example.org/1.3-42</pfif:person_record_id>"
        "<pfif:author_name>Teacher</pfif:author_name>"
        "<pfif:source_date>2026-11-26T09:00:00Z</pfif:source_date>"
        "<pfif:text>Not at school.</pfif:text></pfif:note>"
        "<pfif:note><pfif:note_record_id>help.example.org/n-10</pfif:note_record_id>"
        "<pfif:person_record_id>help.example.org/unknown</pfif:person_record_id>"
        "<pfif:author_name>Teacher</pfif:author_name>"
        "<pfif:source_date>2026-11-26T09:00:00Z</pfif:source_date>"
        "<pfif:text>Someone else.</pfif:text></pfif:note>"
    )

    result = import_as(clerk, note_only)

    assert (result.created, result.updated, result.notes_unmatched) == (0, 0, 1)
    draft = DraftReport.objects.get()
    assert [n["text"] for n in draft.notes] == ["Not at school."]


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(BAD_DOCUMENTS))
def test_a_bad_document_stores_nothing(clerk, name):
    import_as(clerk, REGISTRY_13)
    before = counts()
    data, message = BAD_DOCUMENTS[name]

    with pytest.raises(ValidationError) as refused:
        import_as(clerk, data)

    assert message in " ".join(refused.value.messages)
    assert counts() == before


@pytest.mark.django_db
def test_one_bad_person_stores_none_of_the_good_ones(clerk):
    good = PERSON.format(notes="").replace("x.example/1", "x.example/good")
    bad = PERSON.format(notes="").replace("<pfif:full_name>Someone</pfif:full_name>", "")

    with pytest.raises(ValidationError, match="Person 2"):
        import_as(clerk, doc(good + bad))

    assert DraftReport.objects.count() == 0


@pytest.mark.django_db
def test_a_name_longer_than_a_case_holds_is_refused_naming_the_person(clerk):
    long_name = PERSON.format(notes="").replace("Someone", "名" * 201)

    with pytest.raises(ValidationError, match=r"Person 1 \(x.example/1\): full_name is longer"):
        import_as(clerk, doc(long_name))
    assert DraftReport.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["supervisor", "field", "counsellor"])
def test_only_those_who_file_reports_may_import(demo_world, role):
    outsider = UserFactory(organisation=Organisation.objects.get(code="PC"), roles=[role])

    with pytest.raises(PermissionDenied):
        import_as(outsider, REGISTRY_14)
    assert DraftReport.objects.count() == 0


@pytest.mark.django_db
def test_a_clerk_may_not_import_into_another_countys_drafts(clerk):
    with pytest.raises(PermissionDenied):
        interchange.pfif_import(
            origin=Origin(actor=clerk),
            organisation=Organisation.objects.get(code="HS"),
            data=REGISTRY_14,
        )
    assert DraftReport.objects.count() == 0


# --- Confirming ------------------------------------------------------------------------------


@pytest.fixture
def published(monkeypatch):
    """Record what would be sent to the broker instead of sending it."""
    sent = []
    monkeypatch.setattr(
        queue, "publish", lambda name, *args, countdown=None: sent.append((name, args)) or True
    )
    return sent


def completion(**overrides) -> dict:
    values = service_values()
    keep = ("category", "last_seen_at", "last_seen_point", "location_source", "reporter_phone")
    return {key: values[key] for key in keep} | overrides


def child_draft(clerk) -> DraftReport:
    import_as(clerk, REGISTRY_14)
    return DraftReport.objects.get(person_record_id="finder.xuzhou.example/p-1001")


@pytest.mark.django_db
def test_confirming_opens_a_case_through_intake_with_the_notes_on_its_timeline(
    clerk, published, django_capture_on_commit_callbacks
):
    draft = child_draft(clerk)

    with django_capture_on_commit_callbacks(execute=True):
        case = interchange.draft_confirm(
            origin=Origin(actor=clerk),
            draft=draft,
            values=completion(category="young_child"),
            expected_version=draft.version,
        )

    assert (case.subject_name, case.sex, case.date_of_birth.isoformat()) == (
        "张小红",
        "female",
        "2018-03-14",
    )
    assert case.circumstances == "8 岁，短发，穿红色羽绒服。"
    assert case.priority == 1  # triage ran: a young child
    assert case.organisation == clerk.organisation
    kinds = list(case.events.order_by("seq").values_list("kind", flat=True))
    assert kinds == [EventKind.CREATED, EventKind.IMPORTED]
    imported = case.events.get(kind=EventKind.IMPORTED)
    assert imported.data == {
        "registry": "徐州寻人平台",
        "person_record_id": "finder.xuzhou.example/p-1001",
        "note_record_id": "finder.xuzhou.example/n-5001",
        "author": "张伟",
        "date": "2026-11-28T09:20:00Z",
        "status": "information_sought",
        "text": "放学后没有回家。",
    }
    # Dispatch is queued exactly as for any report.
    assert published == [(queue.DISPATCH, (case.pk,))]
    draft.refresh_from_db()
    assert (draft.status, draft.case) == (DraftStatus.CONFIRMED, case)


@pytest.mark.django_db
def test_a_confirmed_draft_is_not_confirmed_again_nor_updated_by_a_new_import(clerk):
    draft = child_draft(clerk)
    case = interchange.draft_confirm(
        origin=Origin(actor=clerk), draft=draft, values=completion(category="young_child")
    )

    with pytest.raises(ValidationError, match=case.reference):
        interchange.draft_confirm(
            origin=Origin(actor=clerk), draft=draft, values=completion(category="young_child")
        )
    result = import_as(clerk, REGISTRY_14)

    assert (result.created, result.updated, result.skipped) == (0, 2, 1)
    assert result.skipped_records == [
        ("finder.xuzhou.example/p-1001", f"already confirmed as case {case.reference}")
    ]
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_a_confirmation_missing_the_last_seen_place_stores_nothing(clerk):
    draft = child_draft(clerk)
    before = counts()

    with pytest.raises(ValidationError):
        interchange.draft_confirm(
            origin=Origin(actor=clerk),
            draft=draft,
            values=completion(category="young_child", last_seen_point=None),
        )

    assert counts() == before
    draft.refresh_from_db()
    assert draft.status == DraftStatus.DRAFT


@pytest.mark.django_db
def test_a_stale_confirmation_is_refused(clerk):
    draft = child_draft(clerk)
    opened_at = draft.version
    import_as(clerk, REGISTRY_14)  # the registry sent it again meanwhile

    with pytest.raises(ValidationError, match="updated by a new import"):
        interchange.draft_confirm(
            origin=Origin(actor=clerk),
            draft=draft,
            values=completion(category="young_child"),
            expected_version=opened_at,
        )
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_a_discarded_draft_opens_no_case_and_is_skipped_by_a_new_import(clerk):
    draft = child_draft(clerk)

    interchange.draft_discard(origin=Origin(actor=clerk), draft=draft, expected_version=1)
    result = import_as(clerk, REGISTRY_14)

    assert result.skipped_records == [("finder.xuzhou.example/p-1001", "discarded earlier")]
    with pytest.raises(ValidationError, match="discarded"):
        interchange.draft_confirm(
            origin=Origin(actor=clerk), draft=draft, values=completion(category="young_child")
        )


@pytest.mark.django_db
def test_a_clerk_of_another_county_may_not_confirm_the_draft(clerk):
    draft = child_draft(clerk)
    other = UserFactory(organisation=Organisation.objects.get(code="HS"), roles=["clerk"])

    with pytest.raises(PermissionDenied):
        interchange.draft_confirm(
            origin=Origin(actor=other), draft=draft, values=completion(category="young_child")
        )
    assert Case.objects.count() == 0


# --- Exporting -------------------------------------------------------------------------------


def sensitive_case(clerk) -> Case:
    return intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(
            values=service_values(
                subject_name="李华",
                reporter_name="李明",
                medical_needs="diabetes, insulin",
                self_harm_risk=True,
                field_notes="Approach calmly",
                circumstances="Argument at home",
            )
        ),
    )


def clear_for_public(case: Case, coordinator: User, **content) -> PublicAlert:
    return PublicAlert.objects.create(
        case=case,
        clearance=list(content),
        content=content,
        centre=Point(round(PIN_LON, 2), round(PIN_LAT, 2), srid=SRID),
        published_by=coordinator,
        published_at=timezone.now(),
    )


def sighting(case: Case, coordinator: User, **kwargs):
    return field.sighting_record(
        origin=Origin(actor=coordinator),
        case=case,
        kind="sighting",
        point=Point(117.456789, 34.301234, srid=SRID),
        seen_at=case.last_seen_at + timedelta(minutes=30),
        description="Seen by 张先生 at 13800138000",
        **kwargs,
    )


@pytest.mark.django_db
def test_without_a_public_clearance_the_export_names_only_the_reference(clerk, coordinator):
    case = sensitive_case(clerk)
    sighting(case, coordinator)

    data = interchange.case_pfif(case)

    (person,) = pfif_parse(data).persons
    assert person.person_record_id == f"beacon.local/{case.reference}"
    assert person.full_name == case.reference
    assert (person.sex, person.age, person.description) == ("", "", "")
    # Only the status change: no sighting without a clearance.
    assert [(n.status, n.text) for n in person.notes] == [("believed_missing", "Reported missing.")]
    text = data.decode()
    for secret in ("李华", "李明", "diabetes", "Approach", "Argument", "13800138000", "117.45"):
        assert secret not in text


@pytest.mark.django_db
def test_with_a_clearance_the_export_holds_what_was_cleared_and_rough_sightings(
    clerk, coordinator, settings
):
    settings.PFIF_DOMAIN = "pengcheng.example"
    case = sensitive_case(clerk)
    clear_for_public(
        case,
        coordinator,
        name="李华",
        age=34,
        sex="female",
        clothing="blue coat",
        description="Short black hair",
        place="彭城广场",
        seen_at="2026-11-30T10:00:00+08:00",
    )
    seen = sighting(case, coordinator)

    (person,) = pfif_parse(interchange.case_pfif(case)).persons

    assert person.person_record_id == f"pengcheng.example/{case.reference}"
    assert (person.full_name, person.sex, person.age) == ("李华", "female", "34")
    assert person.description == "Short black hair\nClothing: blue coat"
    # In time order: the sighting (half an hour after last seen) before the report was filed.
    spotted, created = person.notes
    assert created.text == "Reported missing. Last seen 2026-11-30T10:00:00+08:00 near 彭城广场."
    assert spotted.note_record_id == f"pengcheng.example/{case.reference}.sighting-{seen.pk}"
    assert spotted.text.startswith("Sighting of the person, seen ")
    assert spotted.last_known_location == "about 34.30, 117.46"
    assert "117.456789" not in spotted.text and "张先生" not in spotted.text


@pytest.mark.django_db
def test_found_and_closed_become_pfif_statuses(clerk, coordinator):
    case = sensitive_case(clerk)
    field.found_report(
        origin=Origin(actor=coordinator),
        case=case,
        point=case.last_seen_point,
        seen_at=case.last_seen_at + timedelta(minutes=40),
        condition="well",
        with_whom="family",
    )
    lifecycle.case_close(origin=Origin(actor=coordinator), case=case, outcome="found_well")

    (person,) = pfif_parse(interchange.case_pfif(case)).persons

    assert [(n.status, n.text) for n in person.notes] == [
        ("believed_missing", "Reported missing."),
        ("believed_alive", "Reported found."),
        ("believed_alive", "Case closed: Found well."),
    ]
    assert "family" not in interchange.case_pfif(case).decode()


@pytest.mark.django_db
def test_export_then_import_gives_back_the_same_person_and_notes(clerk, coordinator):
    case = sensitive_case(clerk)
    clear_for_public(case, coordinator, name="李华", age=34, sex="female", place="广场")
    sighting(case, coordinator)
    exported = interchange.case_pfif_person(case)

    other_clerk = UserFactory(organisation=Organisation.objects.get(code="HS"), roles=["clerk"])
    result = import_as(other_clerk, interchange.case_pfif(case))

    assert result.created == 1
    draft = DraftReport.objects.get(organisation__code="HS")
    assert draft.person_record_id == exported.person_record_id
    assert (draft.full_name, draft.sex, draft.age, draft.description) == (
        exported.full_name,
        exported.sex,
        exported.age,
        exported.description,
    )
    assert draft.notes == [note.as_dict() for note in exported.notes]
    assert len(draft.notes) == 2
