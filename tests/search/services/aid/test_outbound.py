"""Outbound: what a partner may hear of a case, proposing aid, and the outbox rows themselves."""

from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import Point

from accounts.models import Partner
from search.choices import AidDirection, AidMessageType, AidStatus, AlertKind
from search.geo import SRID
from search.models import Alert, MutualAidRequest, OutboxMessage
from search.services import queue
from search.services.aid import outbound
from search.services.timeline import Origin
from tests.factories import AidRequestFactory, SearchAreaFactory, SectorFactory, square
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.conftest import make_partner

pytestmark = pytest.mark.django_db

REPORTER_FIELDS = ("reporter_name", "reporter_phone", "reporter_relation")
CARE_FIELDS = ("medical_needs", "medication", "self_harm_risk", "field_notes")


@pytest.fixture
def fed():
    world = build_world()
    return SimpleNamespace(world=world, pb=make_partner("PB", 34.65).partner)


@pytest.fixture
def published(monkeypatch):
    """Record what would be sent to the broker instead of sending it."""
    sent = []
    monkeypatch.setattr(
        queue, "publish", lambda name, *args, countdown=None: sent.append((name, args)) or True
    )
    return sent


def sensitive_case(fed):
    return open_case(
        fed.world,
        reporter_name="王芳",
        reporter_phone="+8613800138000",
        reporter_relation="daughter",
        medical_needs="diabetic",
        medication="insulin",
        self_harm_risk=True,
        field_notes="talks of the river",
        clothing="red jacket",
    )


def allow(partner: Partner, *fields: str) -> Partner:
    Partner.objects.filter(pk=partner.pk).update(allowed_fields=list(fields))
    partner.refresh_from_db()
    return partner


def reaching(case, partner: Partner):
    """Give the case a current area with a sector on the partner's side of the line."""
    area = SearchAreaFactory(case=case, boundary=square(117.3, 34.45, 0.02))
    return SectorFactory(area=area, partner=partner, in_current_area=True)


# --- The case summary ------------------------------------------------------------------------


def test_a_partner_gets_the_default_fields_and_no_reporter_or_care_detail(fed):
    case = sensitive_case(fed)

    summary = outbound.case_summary(case=case, partner=fed.pb)

    assert summary["reference"] == case.reference
    assert summary["subject_name"] == case.subject_name
    assert summary["age"] == 40
    assert summary["clothing"] == "red jacket"
    assert summary["last_seen_point"] == {"type": "Point", "coordinates": [117.30, 34.25]}
    for field in (*REPORTER_FIELDS, *CARE_FIELDS):
        assert field not in summary, field


def test_care_fields_go_only_where_allowed_fields_names_them(fed):
    case = sensitive_case(fed)
    allow(fed.pb, "subject_name", "medical_needs", "self_harm_risk")

    summary = outbound.case_summary(case=case, partner=fed.pb)

    assert summary["medical_needs"] == "diabetic"
    assert summary["self_harm_risk"] is True
    for field in ("medication", "field_notes", "clothing", "age"):
        assert field not in summary, field
    for field in REPORTER_FIELDS:
        assert field not in summary, field


def test_reporter_fields_never_go_even_if_allowed_fields_names_them(fed):
    case = sensitive_case(fed)
    allow(fed.pb, *REPORTER_FIELDS, "subject_name")

    summary = outbound.case_summary(case=case, partner=fed.pb)

    for field in REPORTER_FIELDS:
        assert field not in summary, field
    assert summary["subject_name"] == case.subject_name


def test_the_request_sent_carries_the_same_minimised_summary(fed):
    case = sensitive_case(fed)

    request = outbound.request_create(
        origin=Origin(actor=fed.world.clerk),
        case=case,
        partner=fed.pb,
        reason="r",
        contact={"name": "desk"},
    )

    sent = OutboxMessage.objects.get(request=request).body["data"]["summary"]
    assert sent == request.summary == outbound.case_summary(case=case, partner=fed.pb)
    assert not set(sent) & {*REPORTER_FIELDS, *CARE_FIELDS}


# --- Proposing aid ---------------------------------------------------------------------------


def test_an_area_reaching_a_partner_raises_one_proposal(fed):
    case = open_case(fed.world)
    reaching(case, fed.pb)

    assert outbound.aid_propose(case=case) == [fed.pb]
    assert outbound.aid_propose(case=case) == [fed.pb]

    (alert,) = Alert.objects.filter(case=case, kind=AlertKind.AID_PROPOSED)
    assert "[PB]" in alert.message
    assert not MutualAidRequest.objects.exists()


def test_each_partner_reached_is_proposed_once(fed):
    case = open_case(fed.world)
    reaching(case, fed.pb)
    outbound.aid_propose(case=case)
    pc = make_partner("PC", 33.9).partner
    area = case.areas.get(is_current=True)
    SectorFactory(area=area, partner=pc, in_current_area=True)

    outbound.aid_propose(case=case)
    outbound.aid_propose(case=case)

    messages = sorted(
        Alert.objects.filter(case=case, kind=AlertKind.AID_PROPOSED).values_list(
            "message", flat=True
        )
    )
    assert len(messages) == 2
    assert "[PB]" in messages[0] and "[PC]" in messages[1]


def test_an_auto_send_partner_is_asked_at_once(fed, django_capture_on_commit_callbacks, published):
    Partner.objects.filter(pk=fed.pb.pk).update(auto_send=True)
    case = open_case(fed.world)
    reaching(case, fed.pb)

    with django_capture_on_commit_callbacks(execute=True):
        assert outbound.aid_propose(case=case) == [fed.pb]

    request = MutualAidRequest.objects.get()
    assert request.direction == AidDirection.OUTBOUND and request.case == case
    assert request.status == AidStatus.SENT and request.requested_by is None
    assert fed.pb.region.contains(request.area.point_on_surface)
    message = OutboxMessage.objects.get(request=request)
    assert message.type == AidMessageType.REQUEST and message.seq == 1
    assert (queue.DRAIN_STREAM, (request.pk,)) in published
    assert not Alert.objects.filter(case=case, kind=AlertKind.AID_PROPOSED).exists()
    # Asked already: not asked again, nor proposed.
    assert outbound.aid_propose(case=case) == []
    assert MutualAidRequest.objects.count() == 1


def test_an_inactive_partner_is_neither_proposed_nor_asked(fed):
    Partner.objects.filter(pk=fed.pb.pk).update(is_active=False, auto_send=True)
    case = open_case(fed.world)
    reaching(case, fed.pb)

    assert outbound.aid_propose(case=case) == []

    assert not Alert.objects.filter(case=case).exists()
    assert not MutualAidRequest.objects.exists()


def test_a_sector_no_longer_in_the_area_proposes_nothing(fed):
    case = open_case(fed.world)
    sector = reaching(case, fed.pb)
    type(sector).objects.filter(pk=sector.pk).update(in_current_area=False)

    assert outbound.aid_propose(case=case) == []
    assert not Alert.objects.filter(case=case).exists()


# --- The outbox ------------------------------------------------------------------------------


def test_outbox_write_numbers_messages_in_order_and_queues_delivery_on_commit(
    fed, django_capture_on_commit_callbacks, published
):
    case = open_case(fed.world)
    request = AidRequestFactory(
        partner=fed.pb, direction=AidDirection.OUTBOUND, case=case, status=AidStatus.SENT
    )

    with django_capture_on_commit_callbacks() as callbacks:
        first = outbound.outbox_write(
            request=request, type_=AidMessageType.NOTE, data={"text": "one"}
        )
        second = outbound.outbox_write(
            request=request, type_=AidMessageType.NOTE, data={"text": "two"}
        )
        assert published == []

    request.refresh_from_db()
    assert request.seq_out == 2
    assert (first.seq, second.seq) == (1, 2)
    assert first.body["sequence"] == 1 and second.body["sequence"] == 2
    assert first.body["request_id"] == str(request.uid)
    assert first.body["type"] == AidMessageType.NOTE and second.body["data"] == {"text": "two"}
    assert first.body["origin"] == case.organisation.code
    assert request.last_message_type == AidMessageType.NOTE
    assert len(callbacks) == 2
    for callback in callbacks:
        callback()
    assert published == [
        (queue.DRAIN_STREAM, (request.pk,)),
        (queue.DRAIN_STREAM, (request.pk,)),
    ]


def test_outbox_numbers_are_per_request(fed):
    case = open_case(fed.world)
    one = AidRequestFactory(partner=fed.pb, direction=AidDirection.OUTBOUND, case=case)
    other = AidRequestFactory(partner=make_partner("PC", 33.9).partner, case=case)

    outbound.outbox_write(request=one, type_=AidMessageType.NOTE, data={"text": "a"})
    message = outbound.outbox_write(request=other, type_=AidMessageType.NOTE, data={"text": "b"})

    assert message.seq == 1
    one.refresh_from_db()
    assert one.seq_out == 1


def test_a_sighting_in_a_partners_region_is_proposed_not_sent(fed):
    case = open_case(fed.world)

    sent = outbound.sighting_shared(
        case=case, point=Point(117.3, 34.7, srid=SRID), data={"kind": "sighting"}
    )

    assert sent == 0
    assert not OutboxMessage.objects.exists()
    (alert,) = Alert.objects.filter(case=case, kind=AlertKind.AID_PROPOSED)
    assert "[PB]" in alert.message


def test_a_request_a_coordinator_cancelled_is_not_sent_again_as_the_area_grows(fed):
    from search.services.aid import desk
    from tests.factories import UserFactory

    Partner.objects.filter(pk=fed.pb.pk).update(auto_send=True)
    case = open_case(fed.world)
    reaching(case, fed.pb)
    outbound.aid_propose(case=case)
    coordinator = UserFactory(organisation=fed.world.city, roles=["coordinator"])
    desk.aid_cancel(
        origin=Origin(actor=coordinator), request=MutualAidRequest.objects.get(), reason="Found"
    )

    assert outbound.aid_propose(case=case) == []
    assert list(MutualAidRequest.objects.values_list("status", flat=True)) == [AidStatus.CANCELLED]
