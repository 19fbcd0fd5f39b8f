"""The aid desk: ask, accept, decline, cancel; each writes what the partner must hear."""

from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Partner
from search.choices import (
    AidDirection,
    AidMessageType,
    AidStatus,
    CaseStatus,
    EventKind,
    LocationSource,
    Outcome,
)
from search.models import Case, CaseEvent, MutualAidRequest, OutboxMessage
from search.services import lifecycle
from search.services.aid import desk, inbox
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.conftest import make_partner
from tests.search.federation.helpers import envelope, request_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def fed():
    world = build_world()
    return SimpleNamespace(
        world=world,
        pb=make_partner("PB", 34.65).partner,
        coordinator=UserFactory(
            organisation=world.city, roles=["coordinator"], first_name="Li", last_name="Wei"
        ),
        clerk=UserFactory(organisation=world.city, roles=["clerk"]),
    )


def as_(user) -> Origin:
    return Origin(actor=user)


def messages(request: MutualAidRequest) -> list[tuple[str, int]]:
    return list(
        OutboxMessage.objects.filter(request=request).order_by("seq").values_list("type", "seq")
    )


def their_request(fed) -> MutualAidRequest:
    """Return PB's request to us, as the inbox stored it."""
    inbox.message_receive(partner=fed.pb, envelope=envelope("request", request_data()))
    return MutualAidRequest.objects.get(direction=AidDirection.INBOUND)


def our_request(fed) -> MutualAidRequest:
    case = open_case(fed.world)
    return desk.aid_request_send(
        origin=as_(fed.coordinator), case=case, partner=fed.pb, reason="Heading north"
    )


# --- Asking ----------------------------------------------------------------------------------


def test_a_coordinator_asks_a_partner_and_the_request_is_in_the_outbox(fed):
    case = open_case(fed.world)

    request = desk.aid_request_send(
        origin=as_(fed.coordinator), case=case, partner=fed.pb, reason="  Heading north  "
    )

    assert request.direction == AidDirection.OUTBOUND and request.case == case
    assert request.status == AidStatus.SENT and request.requested_by == fed.coordinator
    assert request.reason == "Heading north"
    assert request.contact["name"] == "Li Wei"
    (message,) = OutboxMessage.objects.filter(request=request)
    assert message.type == AidMessageType.REQUEST and message.seq == 1
    assert message.body["request_id"] == str(request.uid)
    assert message.body["origin"] == "TC"
    assert message.body["data"]["reason"] == "Heading north"
    assert message.body["data"]["summary"]["reference"] == case.reference
    event = CaseEvent.objects.filter(case=case, kind=EventKind.AID).get()
    assert event.data["what"] == "requested" and event.data["partner"] == "PB"


@pytest.mark.parametrize("role", ["clerk", "field", "supervisor"])
def test_only_a_coordinator_may_ask(fed, role):
    case = open_case(fed.world)
    outsider = UserFactory(organisation=fed.world.city, roles=[role])

    with pytest.raises(PermissionDenied):
        desk.aid_request_send(origin=as_(outsider), case=case, partner=fed.pb, reason="r")

    assert not MutualAidRequest.objects.exists() and not OutboxMessage.objects.exists()


def test_an_inactive_partner_cannot_be_asked(fed):
    case = open_case(fed.world)
    Partner.objects.filter(pk=fed.pb.pk).update(is_active=False)
    fed.pb.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        desk.aid_request_send(origin=as_(fed.coordinator), case=case, partner=fed.pb, reason="r")

    assert "partner" in refused.value.message_dict
    assert not MutualAidRequest.objects.exists()


def test_a_request_needs_a_reason(fed):
    case = open_case(fed.world)

    with pytest.raises(ValidationError) as refused:
        desk.aid_request_send(origin=as_(fed.coordinator), case=case, partner=fed.pb, reason=" ")

    assert "reason" in refused.value.message_dict
    assert not MutualAidRequest.objects.exists()


def test_a_partner_is_asked_once_while_the_request_is_open(fed):
    request = our_request(fed)

    with pytest.raises(ValidationError) as refused:
        desk.aid_request_send(
            origin=as_(fed.coordinator), case=request.case, partner=fed.pb, reason="again"
        )

    assert "partner" in refused.value.message_dict
    assert MutualAidRequest.objects.count() == 1


def test_a_closed_case_cannot_ask(fed):
    case = open_case(fed.world)
    lifecycle.case_close(origin=as_(fed.coordinator), case=case, outcome=Outcome.FOUND_WELL)

    with pytest.raises(ValidationError):
        desk.aid_request_send(origin=as_(fed.coordinator), case=case, partner=fed.pb, reason="r")

    assert not MutualAidRequest.objects.exists()


# --- Answering a partner's request -----------------------------------------------------------


def test_accepting_opens_an_assisting_case_through_the_lifecycle(fed):
    request = their_request(fed)

    accepted = desk.aid_accept(origin=as_(fed.coordinator), request=request, note=" Coming ")

    assert accepted.status == AidStatus.ACCEPTED
    case = Case.objects.get()
    assert accepted.case == case
    assert MutualAidRequest.objects.get().case == case
    assert case.location_source == LocationSource.PARTNER
    assert case.organisation == fed.world.city
    assert case.reference.startswith("TC-")
    assert case.subject_name == "王老先生" and case.estimated_age == 81
    assert case.category == "dementia" and case.priority == 1
    created = CaseEvent.objects.get(case=case, kind=EventKind.CREATED)
    assert created.seq == 1 and created.actor == fed.coordinator
    assert created.data["assisting"] == "PB-2026-000001"
    assert created.data["partner"] == "PB"
    assert created.data["reference"] == case.reference
    # Their first message was the request (our seq_in); ours starts at 1.
    assert messages(accepted) == [(AidMessageType.ACCEPTED, 1)]
    body = OutboxMessage.objects.get(request=accepted).body
    assert body["data"]["note"] == "Coming"
    assert body["data"]["contact"]["name"] == "Li Wei"
    event = CaseEvent.objects.get(case=case, kind=EventKind.AID)
    assert event.data["what"] == "accepted"


def test_a_request_is_accepted_once(fed):
    request = their_request(fed)
    desk.aid_accept(origin=as_(fed.coordinator), request=request)

    with pytest.raises(ValidationError):
        desk.aid_accept(origin=as_(fed.coordinator), request=request)

    assert Case.objects.count() == 1
    assert messages(request) == [(AidMessageType.ACCEPTED, 1)]


def test_our_own_request_cannot_be_accepted_or_declined(fed):
    request = our_request(fed)

    with pytest.raises(ValidationError):
        desk.aid_accept(origin=as_(fed.coordinator), request=request)
    with pytest.raises(ValidationError):
        desk.aid_decline(origin=as_(fed.coordinator), request=request, reason="no")

    request.refresh_from_db()
    assert request.status == AidStatus.SENT
    assert messages(request) == [(AidMessageType.REQUEST, 1)]


def test_a_clerk_cannot_accept_or_decline(fed):
    request = their_request(fed)

    with pytest.raises(PermissionDenied):
        desk.aid_accept(origin=as_(fed.clerk), request=request)
    with pytest.raises(PermissionDenied):
        desk.aid_decline(origin=as_(fed.clerk), request=request, reason="No teams")

    request.refresh_from_db()
    assert request.status == AidStatus.ACKNOWLEDGED and request.case is None
    assert not Case.objects.exists() and not OutboxMessage.objects.exists()


def test_declining_needs_a_reason_and_tells_the_partner_why(fed):
    request = their_request(fed)

    with pytest.raises(ValidationError) as refused:
        desk.aid_decline(origin=as_(fed.coordinator), request=request, reason="   ")

    assert "reason" in refused.value.message_dict
    request.refresh_from_db()
    assert request.status == AidStatus.ACKNOWLEDGED
    assert messages(request) == []

    declined = desk.aid_decline(
        origin=as_(fed.coordinator), request=request, reason=" No teams free "
    )

    assert declined.status == AidStatus.DECLINED
    request.refresh_from_db()
    assert request.decline_reason == "No teams free"
    assert messages(request) == [(AidMessageType.DECLINED, 1)]
    body = OutboxMessage.objects.get(request=request).body
    assert body["data"] == {"reason": "No teams free"}
    assert not Case.objects.exists()


# --- Cancelling our request ------------------------------------------------------------------


def test_cancelling_our_request_tells_the_partner(fed):
    request = our_request(fed)

    cancelled = desk.aid_cancel(origin=as_(fed.coordinator), request=request, reason="Found")

    assert cancelled.status == AidStatus.CANCELLED
    request.refresh_from_db()
    assert request.status == AidStatus.CANCELLED
    assert messages(request) == [(AidMessageType.REQUEST, 1), (AidMessageType.CANCELLED, 2)]
    body = OutboxMessage.objects.get(request=request, seq=2).body
    assert body["sequence"] == 2 and body["data"] == {"reason": "Found"}
    event = CaseEvent.objects.filter(case=request.case, kind=EventKind.AID).latest("seq")
    assert event.data["what"] == "cancelled"
    # The case itself goes on: only the request to this partner ended.
    request.case.refresh_from_db()
    assert request.case.status == CaseStatus.OPEN


def test_only_an_outbound_request_can_be_cancelled(fed):
    request = their_request(fed)

    with pytest.raises(ValidationError):
        desk.aid_cancel(origin=as_(fed.coordinator), request=request, reason="No")

    request.refresh_from_db()
    assert request.status == AidStatus.ACKNOWLEDGED
    assert messages(request) == []


def test_an_ended_request_cannot_be_cancelled_again(fed):
    request = our_request(fed)
    desk.aid_cancel(origin=as_(fed.coordinator), request=request, reason="Found")

    with pytest.raises(ValidationError):
        desk.aid_cancel(origin=as_(fed.coordinator), request=request, reason="Again")

    assert len(messages(request)) == 2


def test_a_clerk_cannot_cancel(fed):
    request = our_request(fed)

    with pytest.raises(PermissionDenied):
        desk.aid_cancel(origin=as_(fed.clerk), request=request, reason="Found")

    request.refresh_from_db()
    assert request.status == AidStatus.SENT
    assert messages(request) == [(AidMessageType.REQUEST, 1)]


@pytest.mark.parametrize(
    ("summary", "field"), [({"priority": 4}, "priority"), ({"age": 125}, "age")]
)
def test_a_request_we_could_not_accept_is_refused_on_arrival(fed, summary, field):
    """What the inbox takes, the desk can accept: the format holds our scale and our ages."""
    from rest_framework.exceptions import ValidationError as FormatError

    data = request_data()
    data["summary"].update(summary)

    with pytest.raises(FormatError) as refused:
        inbox.message_receive(partner=fed.pb, envelope=envelope("request", data))

    assert field in str(refused.value)
    assert not MutualAidRequest.objects.exists()
