"""A partner's message and a closure of the same case take their locks in one order."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from search.models import Case, MutualAidRequest
from search.services.aid import desk, inbox
from search.services.timeline import Origin
from tests.search.dispatch_world import open_case
from tests.search.federation.helpers import envelope

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_waits_for_the_case_before_it_takes_the_request(fed):
    case = open_case(fed.world)
    request = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="border"
    )
    accepted = envelope("accepted", {"note": ""}, request_id=request.uid, sequence=1)
    assert inbox.message_receive(partner=fed.partner, envelope=accepted).outcome == inbox.APPLIED
    found = envelope(
        "found",
        {
            "point": {"type": "Point", "coordinates": [117.3, 34.46]},
            "found_at": timezone.now().isoformat(),
            "condition": "well",
            "with_whom": "Our patrol",
        },
        request_id=request.uid,
        sequence=2,
    )
    answers = []

    def partner_sends():
        try:
            answers.append(inbox.message_receive(partner=fed.partner, envelope=found).outcome)
        finally:
            connection.close()

    with transaction.atomic():
        # What closing the case does first: lock the case, then its requests.
        Case.objects.select_for_update().get(pk=case.pk)
        sender = threading.Thread(target=partner_sends)
        sender.start()
        time.sleep(0.5)
        # The message must be queued behind the case, not holding the request we need next.
        MutualAidRequest.objects.select_for_update(nowait=True).get(pk=request.pk)
    sender.join(timeout=20)
    assert answers == [inbox.APPLIED]
    case.refresh_from_db()
    assert case.sightings.filter(kind="found").exists()


def _queued_behind_the_case(case_id: int, request_id: int, work) -> list:
    """Run `work` in a thread while this transaction holds the case; return what it raised.

    While it waits, the request must stay free: a writer holding it and then asking for the case
    deadlocks with anyone who holds the case and then asks for the request (a field report).
    """
    raised: list = []

    def other_writer():
        try:
            with transaction.atomic():
                work()
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            raised.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        Case.objects.select_for_update().get(pk=case_id)
        writer = threading.Thread(target=other_writer)
        writer.start()
        time.sleep(0.5)
        MutualAidRequest.objects.select_for_update(nowait=True).get(pk=request_id)
    writer.join(timeout=20)
    assert not writer.is_alive()
    return raised


def test_our_units_starting_an_assisting_case_wait_for_the_case_first(fed):
    from search.services.aid import outbound
    from tests.search.federation.helpers import request_data

    inbox.message_receive(partner=fed.partner, envelope=envelope("request", request_data()))
    request = MutualAidRequest.objects.get(direction="inbound")
    request = desk.aid_accept(origin=Origin(actor=fed.coordinator), request=request)

    raised = _queued_behind_the_case(
        request.case_id,
        request.pk,
        lambda: outbound.assisting_case_activated(case_id=request.case_id),
    )

    assert raised == []
    request.refresh_from_db()
    assert request.status == "active"


def test_a_coordinators_note_waits_for_the_case_first(fed):
    case = open_case(fed.world)
    request = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="border"
    )

    raised = _queued_behind_the_case(
        case.pk,
        request.pk,
        lambda: desk.aid_note(origin=Origin(actor=fed.coordinator), request=request, text="hi"),
    )

    assert raised == []
    assert request.outbox_messages.filter(type="note").count() == 1
