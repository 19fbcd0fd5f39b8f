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
