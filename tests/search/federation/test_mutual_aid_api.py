"""/api/v1/mutual-aid/: coordinators ask and answer; a partner reads only its own requests."""

import pytest
from rest_framework.test import APIClient

from search.choices import AidStatus
from search.models import Case, MutualAidRequest, OutboxMessage
from search.services.aid import desk
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import open_case
from tests.search.federation.conftest import make_partner
from tests.search.federation.helpers import envelope, request_data, signed

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def key_client(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api


def test_a_coordinator_asks_and_the_outbox_holds_the_minimised_request(fed):
    case = open_case(fed.world, medical_needs="insulin", reporter_name="Mother")
    response = api_for(fed.coordinator).post(
        "/api/v1/mutual-aid/",
        {"case": case.pk, "partner": "PB", "reason": "Heading north"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "sent"
    message = OutboxMessage.objects.get()
    assert message.type == "request" and message.seq == 1
    summary = message.body["data"]["summary"]
    assert summary["reference"] == case.reference
    assert "medical_needs" not in summary and "reporter_phone" not in summary
    assert "reporter_name" not in summary
    assert message.body["data"]["area"]["type"] == "MultiPolygon"
    # Asking twice is refused while the first is open.
    again = api_for(fed.coordinator).post(
        "/api/v1/mutual-aid/", {"case": case.pk, "partner": "PB", "reason": "again"}, format="json"
    )
    assert again.status_code == 400 and "partner" in again.json()


def test_medical_detail_goes_only_to_a_partner_allowed_it(fed):
    fed.partner.allowed_fields = ["subject_name", "medical_needs"]
    fed.partner.save()
    case = open_case(fed.world, medical_needs="insulin")
    desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
    )
    summary = OutboxMessage.objects.get().body["data"]["summary"]
    assert summary["medical_needs"] == "insulin"
    assert "clothing" not in summary


def test_only_coordinators_ask_and_bad_input_is_400(fed):
    case = open_case(fed.world)
    clerk = UserFactory(organisation=fed.world.city, roles=["clerk"])
    body = {"case": case.pk, "partner": "PB", "reason": "x"}
    assert api_for(clerk).post("/api/v1/mutual-aid/", body).status_code == 403
    api = api_for(fed.coordinator)
    assert api.post("/api/v1/mutual-aid/", {**body, "partner": "ZZ"}).json()["partner"]
    assert api.post("/api/v1/mutual-aid/", {**body, "case": 999999}).json()["case"]
    assert api.post("/api/v1/mutual-aid/", {**body, "reason": ""}).status_code == 400
    assert MutualAidRequest.objects.count() == 0


def test_a_partner_reads_only_the_requests_between_us(client, fed):
    other = make_partner("PC2", 33.9)
    case = open_case(fed.world)
    ours_to_pb = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="r"
    )
    ours_to_other = desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=other.partner, reason="r"
    )
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    listing = key_client(fed.key).get("/api/v1/mutual-aid/")
    assert listing.status_code == 200
    ids = {r["request_id"] for r in listing.json()["results"]}
    assert str(ours_to_pb.uid) in ids and str(ours_to_other.uid) not in ids
    assert len(ids) == 2
    assert all(r["case_reference"] is None for r in listing.json()["results"])
    assert key_client(fed.key).get(f"/api/v1/mutual-aid/{ours_to_other.uid}/").status_code == 404
    # A partner key opens nothing else, and cannot act.
    assert key_client(fed.key).get("/api/v1/cases/").status_code == 401
    assert (
        key_client(fed.key).post(f"/api/v1/mutual-aid/{ours_to_pb.uid}/cancel/", {"reason": "x"})
    ).status_code == 403
    assert APIClient().get("/api/v1/mutual-aid/").status_code == 401
    fielder = UserFactory(organisation=fed.world.city, roles=["field"])
    assert api_for(fielder).get("/api/v1/mutual-aid/").status_code == 403


def test_accepting_an_inbound_request_opens_a_dispatched_assisting_case(client, fed):
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    request = MutualAidRequest.objects.get()
    api = api_for(fed.coordinator)
    listing = api.get("/api/v1/mutual-aid/?direction=inbound&open=true").json()
    assert [r["request_id"] for r in listing["results"]] == [str(request.uid)]
    response = api.post(f"/api/v1/mutual-aid/{request.uid}/accept/", {"note": "Two teams"})
    assert response.status_code == 200, response.content
    request.refresh_from_db()
    assert request.status == AidStatus.ACCEPTED
    case = Case.objects.get(pk=request.case_id)
    assert case.organisation == fed.world.city
    assert case.subject_name == "王老先生" and case.category == "dementia"
    assert case.location_source == "partner"
    accepted = OutboxMessage.objects.get(request=request)
    assert accepted.type == "accepted" and accepted.seq == 1
    # Accepting twice is a clear refusal.
    assert api.post(f"/api/v1/mutual-aid/{request.uid}/accept/").status_code == 400


def test_declining_needs_a_reason(client, fed):
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    request = MutualAidRequest.objects.get()
    api = api_for(fed.coordinator)
    assert api.post(f"/api/v1/mutual-aid/{request.uid}/decline/", {}).status_code == 400
    response = api.post(f"/api/v1/mutual-aid/{request.uid}/decline/", {"reason": "No teams"})
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert OutboxMessage.objects.get().body["data"] == {"reason": "No teams"}


def test_a_supervisor_does_not_see_a_partners_medical_detail(client, fed):
    summary = {**request_data()["summary"], "medical_needs": "insulin at 18:00"}
    body = envelope("request", request_data(summary=summary))
    assert signed(client, body, key=fed.key, secrets=[fed.secret]).status_code == 201
    supervisor = UserFactory(organisation=fed.world.city, roles=["supervisor"])
    seen = api_for(supervisor).get("/api/v1/mutual-aid/").json()["results"][0]["summary"]
    assert "medical_needs" not in seen and seen["subject_name"] == "王老先生"
    seen = api_for(fed.coordinator).get("/api/v1/mutual-aid/").json()["results"][0]["summary"]
    assert seen["medical_needs"] == "insulin at 18:00"


def test_a_county_desk_sees_and_takes_only_requests_on_its_ground(client, fed):
    from django.contrib.gis.geos import MultiPolygon

    from accounts.models import Organisation
    from search.geo import SRID
    from tests.factories import OrganisationFactory, square

    city = fed.world.city

    def district(code, lat):
        return OrganisationFactory(
            code=code,
            parent=city,
            level=Organisation.Level.COUNTY,
            jurisdiction=MultiPolygon(square(117.3, lat, 0.1), srid=SRID),
        )

    north = UserFactory(organisation=district("TN", 34.35), roles=["coordinator"])
    south = UserFactory(organisation=district("TS", 34.15), roles=["coordinator"])
    # The area asked for lies on the northern edge of the city.
    signed(client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret])
    request = MutualAidRequest.objects.get()
    assert api_for(south).get("/api/v1/mutual-aid/").json()["count"] == 0
    assert api_for(south).post(f"/api/v1/mutual-aid/{request.uid}/accept/").status_code == 404
    assert api_for(fed.coordinator).get("/api/v1/mutual-aid/").json()["count"] == 1
    response = api_for(north).post(f"/api/v1/mutual-aid/{request.uid}/accept/", {"note": ""})
    assert response.status_code == 200, response.content
    request.refresh_from_db()
    # The case lands in the desk that took it, which keeps seeing it.
    assert request.case.organisation.code == "TN"
    assert api_for(north).get("/api/v1/mutual-aid/").json()["count"] == 1
