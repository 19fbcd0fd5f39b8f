"""The mutual-aid board and case-page actions, and the service rules behind them."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from search.choices import AidStatus, AlertKind
from search.models import Alert, Case, MutualAidRequest, OutboxMessage, Task
from search.services import lifecycle
from search.services.aid import desk, relay
from search.services.areas import dispatch_case
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import open_case
from tests.search.federation.helpers import envelope, request_data, signed

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    web = Client()
    web.force_login(user)
    return web


def test_the_board_is_for_coordinators_and_supervisors(fed):
    assert browser(fed.coordinator).get("/aid/").status_code == 200
    supervisor = UserFactory(organisation=fed.world.city, roles=["supervisor"])
    assert browser(supervisor).get("/aid/").status_code == 200
    for role in ("clerk", "field", "counsellor"):
        outsider = UserFactory(organisation=fed.world.city, roles=[role])
        assert browser(outsider).get("/aid/").status_code == 403
    assert Client().get("/aid/").status_code == 302


def test_asking_from_the_case_page_and_seeing_it_on_the_board(fed):
    case = open_case(fed.world)
    web = browser(fed.coordinator)
    response = web.post(
        f"/cases/{case.pk}/aid/", {"partner": fed.partner.pk, "reason": "Heading north"}
    )
    assert response.status_code == 302
    request = MutualAidRequest.objects.get()
    assert request.case == case and request.status == AidStatus.SENT
    board = web.get("/aid/").content.decode()
    assert case.reference in board and "Heading north" in board
    page = web.get(f"/cases/{case.pk}/").content.decode()
    assert "Mutual aid" in page
    # Without a reason nothing is sent, and the page says why.
    other = open_case(fed.world)
    response = web.post(f"/cases/{other.pk}/aid/", {"partner": fed.partner.pk}, follow=True)
    assert MutualAidRequest.objects.filter(case=other).count() == 0
    assert "This field is required" in response.content.decode()


def test_a_clerk_cannot_ask(fed):
    case = open_case(fed.world)
    clerk = UserFactory(organisation=fed.world.city, roles=["clerk"])
    response = browser(clerk).post(
        f"/cases/{case.pk}/aid/", {"partner": fed.partner.pk, "reason": "x"}
    )
    assert response.status_code == 403
    assert MutualAidRequest.objects.count() == 0


def test_accepting_and_declining_on_the_board(client, fed):
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    first, second = MutualAidRequest.objects.order_by("pk")
    web = browser(fed.coordinator)
    board = web.get("/aid/").content.decode()
    assert "Accept and dispatch our units" in board
    # Every page tells the coordinator how many partners wait for an answer.
    assert web.get("/cases/").context["nav"]["aid_waiting"] == 2
    web.post(f"/aid/{first.uid}/accept/", {"note": ""})
    first.refresh_from_db()
    assert first.status == AidStatus.ACCEPTED and first.case_id
    assert web.get("/cases/").context["nav"]["aid_waiting"] == 1
    clerk = UserFactory(organisation=fed.world.city, roles=["clerk"])
    assert browser(clerk).get("/cases/").context["nav"]["aid_waiting"] == 0
    web.post(f"/aid/{second.uid}/decline/", {"reason": ""})
    second.refresh_from_db()
    assert second.status == AidStatus.ACKNOWLEDGED
    web.post(f"/aid/{second.uid}/decline/", {"reason": "No teams free"})
    second.refresh_from_db()
    assert second.status == AidStatus.DECLINED
    assert "waiting for our answer" not in web.get("/cases/").content.decode()


def test_an_area_that_reaches_a_partner_is_proposed_once(fed):
    # Last seen near the northern edge of the city: the rings reach partner PB.
    case = open_case(fed.world, at=(117.30, 34.445))
    dispatch_case(case_id=case.pk)
    alerts = Alert.objects.filter(case=case, kind=AlertKind.AID_PROPOSED)
    assert alerts.count() == 1 and "PB" in alerts.get().message
    from search.services.areas import area_compute

    # A new version of the area reaches PB again: no second proposal.
    assert area_compute(case=case, reason="time_growth", origin=Origin.system())
    assert Alert.objects.filter(case=case, kind=AlertKind.AID_PROPOSED).count() == 1


def test_auto_send_partners_are_asked_without_a_coordinator(fed):
    fed.partner.auto_send = True
    fed.partner.save()
    case = open_case(fed.world, at=(117.30, 34.445))
    dispatch_case(case_id=case.pk)
    request = MutualAidRequest.objects.get(case=case)
    assert request.status == AidStatus.SENT
    # Only the part of the area inside the partner's region is sent.
    assert fed.partner.region.contains(request.area.point_on_surface)
    assert request.area.area < case.areas.get(is_current=True).boundary.area


def test_closing_the_case_completes_working_requests_and_cancels_the_rest(client, fed):
    case = open_case(fed.world)
    other = fed
    helping = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
    )
    signed(
        client,
        envelope("accepted", {}, request_id=helping.uid, sequence=1),
        key=other.key,
        secrets=[other.secret],
    )
    from tests.search.federation.conftest import make_partner

    silent = make_partner("PD", 33.9)
    unanswered = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=silent.partner, reason="r"
    )
    dispatch_case(case_id=case.pk)
    assert Task.objects.open().filter(case=case).exists()
    lifecycle.case_close(origin=Origin(actor=fed.coordinator), case=case, outcome="found_well")
    helping.refresh_from_db()
    unanswered.refresh_from_db()
    assert helping.status == AidStatus.COMPLETED
    assert unanswered.status == AidStatus.CANCELLED
    assert OutboxMessage.objects.filter(request=helping).latest("seq").type == "closed"
    assert OutboxMessage.objects.filter(request=unanswered).latest("seq").type == "cancelled"
    assert not Task.objects.open().filter(case=case).exists()


def test_unanswered_requests_escalate_once(fed):
    case = open_case(fed.world)
    request = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
    )
    assert relay.aid_escalate() == 0
    later = timezone.now() + timedelta(minutes=20)
    assert relay.aid_escalate(now=later) == 1
    assert relay.aid_escalate(now=later) == 0
    assert Alert.objects.filter(case=case, kind=AlertKind.AID_OVERDUE).count() == 1
    board = browser(fed.coordinator).get("/aid/").content.decode()
    assert request.partner.organisation.name in board


def test_the_sweep_finds_messages_left_behind(fed):
    case = open_case(fed.world)
    request = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
    )
    message = OutboxMessage.objects.get(request=request)
    # The on-commit queueing never happened (a crash, a broker outage): the sweep finds it.
    assert relay.streams_due() == [request.pk]
    OutboxMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert relay.streams_due() == []


# A refused message is given up and the stream goes on past it (here: nothing is left).
@pytest.mark.parametrize(("status", "outcome"), [(409, "drained"), (401, "retry")])
def test_a_refused_message_is_not_retried_and_the_coordinator_is_told(fed, status, outcome):
    """A refusal of the message is final; a refusal of our key or signature is retried."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail": "Signature refused"}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fed.partner.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/"
        fed.partner.save()
        case = open_case(fed.world)
        desk.aid_request_send(
            origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
        )
        message = OutboxMessage.objects.get()
        assert relay.stream_drain(request_id=message.request_id).stopped == outcome
        message.refresh_from_db()
        assert message.response_status == status
        assert Alert.objects.filter(case=case, kind=AlertKind.AID_UNDELIVERED).count() == 1
        if outcome == "drained":
            assert message.failed_at and relay.streams_due() == []
        else:
            assert message.failed_at is None
            later = message.next_attempt_at + timedelta(seconds=1)
            assert relay.streams_due(now=later) == [message.request_id]
            assert relay.stream_drain(request_id=message.request_id, now=later).stopped == "retry"
            # Told once, not at every attempt.
            assert Alert.objects.filter(case=case, kind=AlertKind.AID_UNDELIVERED).count() == 1
    finally:
        server.shutdown()
        server.server_close()


def test_retry_delays_grow_and_stay_under_the_cap(settings):
    settings.FEDERATION = {**settings.FEDERATION, "RETRY_BASE_SECONDS": 5, "RETRY_CAP_SECONDS": 60}
    delays = [relay.retry_delay(n) for n in range(1, 12)]
    assert all(2.5 <= d <= 60 for d in delays)
    assert max(delays[:2]) <= 10 and min(delays[-3:]) >= 30


def test_the_assisting_city_forwards_its_units_reports(client, fed):
    from django.contrib.gis.geos import Point

    from search.services import field

    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    request = MutualAidRequest.objects.get()
    desk.aid_accept(origin=Origin(actor=fed.coordinator), request=request)
    request.refresh_from_db()
    assisting = Case.objects.get(pk=request.case_id)
    field.sighting_record(
        origin=Origin(actor=fed.coordinator),
        case=assisting,
        kind="clue",
        point=Point(117.3, 34.44, srid=4326),
        seen_at=timezone.now(),
        description="a dropped scarf",
    )
    types = list(OutboxMessage.objects.filter(request=request).values_list("type", flat=True))
    assert types == ["accepted", "sighting"]
    sent = OutboxMessage.objects.get(request=request, type="sighting").body
    assert sent["sequence"] == 2 and sent["data"]["description"] == "a dropped scarf"


def test_our_sightings_go_to_the_partners_helping_us_and_one_over_the_line_is_proposed(client, fed):
    from django.contrib.gis.geos import Point

    from search.services import field

    case = open_case(fed.world)
    # Over the line, nobody asked yet: the coordinator is told to ask.
    field.sighting_record(
        origin=Origin(actor=fed.coordinator),
        case=case,
        kind="sighting",
        point=Point(117.3, 34.6, srid=4326),
        seen_at=timezone.now(),
    )
    proposal = Alert.objects.get(case=case, kind=AlertKind.AID_PROPOSED)
    assert "PB" in proposal.message
    request = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
    )
    signed(
        client,
        envelope("accepted", {}, request_id=request.uid, sequence=1),
        key=fed.key,
        secrets=[fed.secret],
    )
    field.sighting_record(
        origin=Origin(actor=fed.coordinator),
        case=case,
        kind="clue",
        point=Point(117.3, 34.61, srid=4326),
        seen_at=timezone.now(),
        description="shoe",
    )
    sent = OutboxMessage.objects.filter(request=request).order_by("seq").last()
    assert sent.type == "sighting" and sent.body["data"]["description"] == "shoe"


def test_the_helping_city_records_the_origins_sightings_on_its_assisting_case(client, fed):
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    request = MutualAidRequest.objects.get()
    sighting = {
        "kind": "sighting",
        "point": {"type": "Point", "coordinates": [117.3, 34.44]},
        "seen_at": timezone.now().isoformat(),
        "description": "seen at the bus stop",
    }
    early = signed(
        client,
        envelope("sighting", sighting, request_id=request.uid, sequence=2),
        key=fed.key,
        secrets=[fed.secret],
    )
    assert early.status_code == 409  # not accepted yet: nowhere to record it
    desk.aid_accept(origin=Origin(actor=fed.coordinator), request=request)
    request.refresh_from_db()
    response = signed(
        client,
        envelope("sighting", sighting, request_id=request.uid, sequence=2),
        key=fed.key,
        secrets=[fed.secret],
    )
    assert response.status_code == 200, response.content
    assisting = Case.objects.get(pk=request.case_id)
    assert assisting.sightings.get().description == "seen at the bus stop"
    # Not echoed back to the city it came from.
    assert list(OutboxMessage.objects.filter(request=request).values_list("type", flat=True)) == [
        "accepted"
    ]


def test_closing_our_assisting_case_tells_the_city_we_help_and_its_closure_still_lands(client, fed):
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    request = MutualAidRequest.objects.get()
    desk.aid_accept(origin=Origin(actor=fed.coordinator), request=request)
    request.refresh_from_db()
    assisting = Case.objects.get(pk=request.case_id)
    lifecycle.case_close(
        origin=Origin(actor=fed.coordinator),
        case=assisting,
        outcome="returned",
        note="He came home by bus.",
    )
    note = OutboxMessage.objects.get(request=request, type="note")
    assert note.body["sequence"] == 2
    text = note.body["data"]["text"]
    assert assisting.reference in text and "returned" in text and "He came home by bus." in text
    # Only the asking city ends the request; its later closure is still applied, once.
    request.refresh_from_db()
    assert request.status == AidStatus.ACCEPTED
    closed = envelope(
        "closed", {"outcome": "found_well", "note": ""}, request_id=request.uid, sequence=2
    )
    response = signed(client, closed, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 200, response.content
    request.refresh_from_db()
    assert request.status == AidStatus.COMPLETED
    assisting.refresh_from_db()
    assert assisting.outcome == "returned"  # our own record of our side stands


def test_closing_a_case_we_asked_about_sends_no_helper_note(fed):
    case = open_case(fed.world)
    desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="border"
    )
    lifecycle.case_close(origin=Origin(actor=fed.coordinator), case=case, outcome="found_well")
    assert sorted(OutboxMessage.objects.values_list("type", flat=True)) == ["cancelled", "request"]


def test_the_board_costs_the_same_queries_for_one_request_or_many(client, fed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    web = browser(fed.coordinator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert web.get("/aid/").status_code == 200
        return len(captured)

    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    one = queries()
    for _ in range(4):
        signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    assert web.get("/aid/").content.decode().count('<section class="card aid') == 5
    assert queries() == one
