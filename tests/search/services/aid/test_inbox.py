"""Inbox: a partner's messages applied once per id, in sequence, answered with domain outcomes."""

import uuid
from types import SimpleNamespace

import pytest

from search.choices import AidDirection, AidMessageType, AidStatus, CaseStatus, EventKind
from search.models import CaseEvent, InboxMessage, MutualAidRequest, OutboxMessage, Task
from search.services.aid import desk, inbox
from search.services.timeline import Origin
from tests.factories import SearchAreaFactory, SectorFactory, TaskFactory
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.conftest import make_partner
from tests.search.federation.helpers import envelope, request_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def fed():
    world = build_world()
    return SimpleNamespace(world=world, pb=make_partner("PB", 34.65).partner)


def receive(partner, type_: str, data: dict | None = None, **kwargs) -> inbox.Receipt:
    return inbox.message_receive(partner=partner, envelope=envelope(type_, data or {}, **kwargs))


def stored() -> tuple[int, int, int]:
    return (
        MutualAidRequest.objects.count(),
        InboxMessage.objects.count(),
        CaseEvent.objects.count(),
    )


def asked(fed) -> MutualAidRequest:
    """Return our request to PB, sent and not yet answered."""
    case = open_case(fed.world)
    return desk.aid_request_send(
        origin=Origin(actor=fed.world.clerk), case=case, partner=fed.pb, reason="Heading north"
    )


def refused(partner, body: dict) -> inbox.MessageRefused:
    before = stored()
    with pytest.raises(inbox.MessageRefused) as caught:
        inbox.message_receive(partner=partner, envelope=body)
    assert stored() == before, "a refused message stores nothing"
    return caught.value


# --- Outcomes --------------------------------------------------------------------------------


def test_a_new_request_is_created_and_acknowledged(fed):
    body = envelope(AidMessageType.REQUEST, request_data())

    receipt = inbox.message_receive(partner=fed.pb, envelope=body)

    assert receipt.outcome == inbox.CREATED
    assert receipt.body["request_status"] == AidStatus.ACKNOWLEDGED
    request = MutualAidRequest.objects.get()
    assert str(request.uid) == body["request_id"]
    assert request.direction == AidDirection.INBOUND and request.partner == fed.pb
    assert request.status == AidStatus.ACKNOWLEDGED and request.seq_in == 1
    assert request.case is None
    kept = InboxMessage.objects.get()
    assert kept.outcome == inbox.CREATED and kept.applied_at is not None


def test_a_request_keeps_only_the_fields_the_format_names(fed):
    data = request_data()
    data["summary"]["reporter_phone"] = "+8613900000000"
    data["contact"]["home_address"] = "secret"

    inbox.message_receive(partner=fed.pb, envelope=envelope(AidMessageType.REQUEST, data))

    request = MutualAidRequest.objects.get()
    assert "reporter_phone" not in request.summary
    assert "home_address" not in request.contact
    assert request.summary["subject_name"] == "王老先生"


def test_the_next_message_in_sequence_is_applied(fed):
    request = asked(fed)

    receipt = receive(
        fed.pb, AidMessageType.ACCEPTED, {"note": "On our way"}, request_id=request.uid
    )

    assert receipt.outcome == inbox.APPLIED
    assert receipt.body["request_status"] == AidStatus.ACCEPTED
    request.refresh_from_db()
    assert request.status == AidStatus.ACCEPTED and request.seq_in == 1
    event = CaseEvent.objects.filter(case=request.case, kind=EventKind.AID).latest("seq")
    assert event.data["what"] == "accepted" and event.data["note"] == "On our way"


def test_a_message_ahead_of_sequence_waits_until_the_gap_is_filled(fed):
    request = asked(fed)
    early = envelope(AidMessageType.ACTIVE, {}, request_id=request.uid, sequence=2)

    receipt = inbox.message_receive(partner=fed.pb, envelope=early)

    assert receipt.outcome == inbox.WAITING
    assert receipt.body["waiting_for"] == 1
    kept = InboxMessage.objects.get(uid=early["id"])
    assert kept.applied_at is None
    request.refresh_from_db()
    assert request.status == AidStatus.SENT and request.seq_in == 0

    filled = receive(fed.pb, AidMessageType.ACCEPTED, request_id=request.uid, sequence=1)

    assert filled.outcome == inbox.APPLIED
    kept.refresh_from_db()
    assert kept.applied_at is not None
    request.refresh_from_db()
    assert request.status == AidStatus.ACTIVE and request.seq_in == 2
    # The early message's sender was told "waiting"; a resend still hears that.
    again = inbox.message_receive(partner=fed.pb, envelope=early)
    assert again == receipt


def test_a_replay_of_an_id_gets_the_first_answer_and_changes_nothing(fed):
    body = envelope(AidMessageType.REQUEST, request_data())
    first = inbox.message_receive(partner=fed.pb, envelope=body)
    before = stored()

    again = inbox.message_receive(partner=fed.pb, envelope=body)

    assert again.outcome == first.outcome == inbox.CREATED
    assert again.body == first.body
    assert stored() == before


def test_a_replay_after_the_request_moved_on_still_gets_the_first_answer(fed):
    request = asked(fed)
    accepted = envelope(AidMessageType.ACCEPTED, {}, request_id=request.uid, sequence=1)
    first = inbox.message_receive(partner=fed.pb, envelope=accepted)
    receive(fed.pb, AidMessageType.ACTIVE, request_id=request.uid, sequence=2)

    again = inbox.message_receive(partner=fed.pb, envelope=accepted)

    assert again == first
    assert again.body["request_status"] == AidStatus.ACCEPTED
    request.refresh_from_db()
    assert request.status == AidStatus.ACTIVE and request.seq_in == 2


# --- Refusals --------------------------------------------------------------------------------


def test_a_message_on_a_request_we_do_not_know_is_refused(fed):
    body = envelope(AidMessageType.ACCEPTED, {}, request_id=uuid.uuid4())

    assert refused(fed.pb, body).code == "unknown_request"


def test_another_partner_cannot_touch_a_request_between_us_and_pb(fed):
    request = asked(fed)
    intruder = make_partner("PC", 33.9).partner
    body = envelope(AidMessageType.ACCEPTED, {}, request_id=request.uid, sequence=1)

    assert refused(intruder, body).code == "unknown_request"
    request.refresh_from_db()
    assert request.status == AidStatus.SENT


def test_a_helper_cannot_send_what_only_the_asking_city_sends(fed):
    request = asked(fed)
    body = envelope(
        AidMessageType.CLOSED, {"outcome": "found_well"}, request_id=request.uid, sequence=1
    )

    assert refused(fed.pb, body).code == "wrong_side"
    request.refresh_from_db()
    assert request.status == AidStatus.SENT and request.seq_in == 0


def test_the_asking_city_cannot_answer_its_own_request(fed):
    body = envelope(AidMessageType.REQUEST, request_data())
    inbox.message_receive(partner=fed.pb, envelope=body)
    accept = envelope(AidMessageType.ACCEPTED, {}, request_id=body["request_id"], sequence=2)

    assert refused(fed.pb, accept).code == "wrong_side"
    assert MutualAidRequest.objects.get().status == AidStatus.ACKNOWLEDGED


def test_a_sequence_already_used_is_refused(fed):
    request = asked(fed)
    receive(fed.pb, AidMessageType.ACCEPTED, request_id=request.uid, sequence=1)
    # Another message id claiming the applied number, and another claiming a waiting one.
    receive(fed.pb, AidMessageType.NOTE, {"text": "later"}, request_id=request.uid, sequence=3)

    for seq in (1, 3):
        body = envelope(AidMessageType.NOTE, {"text": "x"}, request_id=request.uid, sequence=seq)
        assert refused(fed.pb, body).code == "sequence_used"


def test_a_message_the_lifecycle_does_not_allow_is_refused(fed):
    request = asked(fed)
    # "Search under way" before the request was accepted.
    body = envelope(AidMessageType.ACTIVE, {}, request_id=request.uid, sequence=1)

    assert refused(fed.pb, body).code == "lifecycle"
    request.refresh_from_db()
    assert request.status == AidStatus.SENT and request.seq_in == 0


def test_a_sighting_on_a_request_not_yet_accepted_is_refused(fed):
    body = envelope(AidMessageType.REQUEST, request_data())
    inbox.message_receive(partner=fed.pb, envelope=body)
    sighting = envelope(
        AidMessageType.SIGHTING,
        {
            "kind": "sighting",
            "point": {"type": "Point", "coordinates": [117.30, 34.45]},
            "seen_at": body["sent_at"],
        },
        request_id=body["request_id"],
        sequence=2,
    )

    assert refused(fed.pb, sighting).code == "lifecycle"


def test_a_request_id_already_taken_is_refused_even_from_another_partner(fed):
    first = envelope(AidMessageType.REQUEST, request_data())
    inbox.message_receive(partner=fed.pb, envelope=first)
    other = make_partner("PC", 33.9).partner
    again = envelope(AidMessageType.REQUEST, request_data(), request_id=first["request_id"])

    assert refused(other, again).code == "duplicate_request"
    assert refused(fed.pb, {**again, "id": str(uuid.uuid4())}).code == "duplicate_request"
    assert MutualAidRequest.objects.get().partner == fed.pb


# --- Ending our assisting case ---------------------------------------------------------------


def test_the_asking_citys_closure_ends_our_assisting_case(fed):
    body = envelope(AidMessageType.REQUEST, request_data())
    inbox.message_receive(partner=fed.pb, envelope=body)
    request = desk.aid_accept(
        origin=Origin(actor=fed.world.clerk), request=MutualAidRequest.objects.get()
    )
    case = request.case
    task = TaskFactory(sector=SectorFactory(area=SearchAreaFactory(case=case)), unit=fed.world.near)

    receipt = receive(
        fed.pb,
        AidMessageType.CLOSED,
        {"outcome": "found_well", "note": "Found at home"},
        request_id=request.uid,
        sequence=2,
    )

    assert receipt.outcome == inbox.APPLIED
    assert receipt.body["request_status"] == AidStatus.COMPLETED
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.outcome == "found_well"
    ended = CaseEvent.objects.get(case=case, kind=EventKind.OUTCOME_RECORDED)
    assert ended.data["by_partner"] is True
    assert ended.data["note"] == "Found at home"
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert not Task.objects.open().filter(case=case).exists()
    request.refresh_from_db()
    assert request.status == AidStatus.COMPLETED
    # They ended it: nothing goes back but our acceptance.
    assert list(OutboxMessage.objects.filter(request=request).values_list("type", flat=True)) == [
        AidMessageType.ACCEPTED
    ]


def test_the_asking_citys_cancellation_withdraws_our_assisting_case(fed):
    body = envelope(AidMessageType.REQUEST, request_data())
    inbox.message_receive(partner=fed.pb, envelope=body)
    request = desk.aid_accept(
        origin=Origin(actor=fed.world.clerk), request=MutualAidRequest.objects.get()
    )

    receive(
        fed.pb,
        AidMessageType.CANCELLED,
        {"reason": "Found by family"},
        request_id=request.uid,
        sequence=2,
    )

    request.case.refresh_from_db()
    assert request.case.status == CaseStatus.CLOSED
    assert request.case.outcome == "withdrawn"
    request.refresh_from_db()
    assert request.status == AidStatus.CANCELLED
