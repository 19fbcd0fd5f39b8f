"""What a partner sends is bounded: depth, geometry, times, sequence, waiting room, known keys."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from search.choices import AidStatus
from search.models import InboxMessage, MutualAidRequest
from search.services.aid import desk, inbox
from search.services.timeline import Origin
from tests.search.dispatch_world import open_case
from tests.search.federation.conftest import make_partner
from tests.search.federation.helpers import envelope, request_data, signed

pytestmark = pytest.mark.django_db


def stored() -> tuple[int, int]:
    return MutualAidRequest.objects.count(), InboxMessage.objects.count()


def _outbound(fed):
    case = open_case(fed.world)
    return desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="border"
    )


def test_json_nested_thousands_deep_is_400_not_a_recursion_error(client, fed):
    deep = "[" * 5000 + "]" * 5000
    raw = ('{"id": "x", "data": ' + deep + "}").encode()
    response = signed(client, None, key=fed.key, secrets=[fed.secret], raw=raw)
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["detail"]
    assert stored() == (0, 0)


def test_json_nested_just_past_the_limit_is_refused_and_a_real_message_is_not(client, fed):
    from search.validators import MAX_JSON_DEPTH

    body = envelope("request", request_data())
    body["data"]["summary"]["languages"] = json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400
    assert stored() == (0, 0)
    assert (
        signed(
            client, envelope("request", request_data()), key=fed.key, secrets=[fed.secret]
        ).status_code
        == 201
    )


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Polygon", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": []},
        {"type": "Polygon", "coordinates": [[]]},
    ],
    ids=["empty polygon", "empty multipolygon", "empty ring"],
)
def test_an_empty_area_is_400(client, fed, area):
    body = envelope("request", request_data(area=area))
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400, response.content
    assert "area" in str(response.json())
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+08:00", "1899-12-31T23:00:00Z", "9999-12-31T23:59:59-20:00"],
)
def test_a_last_seen_time_out_of_bounds_is_400(client, fed, when):
    data = request_data()
    data["summary"]["last_seen_at"] = when
    response = signed(client, envelope("request", data), key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400, response.content
    assert "last_seen_at" in str(response.json())
    assert stored() == (0, 0)


def _accepted(client, fed):
    request = _outbound(fed)
    send = envelope("accepted", {"note": ""}, request_id=request.uid, sequence=1)
    assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 200
    return request


@pytest.mark.parametrize(
    "seen_at",
    ["0001-01-01T00:00:00+08:00", "1950-06-01T00:00:00Z"],
    ids=["year 1", "long before last seen"],
)
def test_a_partners_sighting_from_long_before_the_case_is_refused(client, fed, seen_at):
    request = _accepted(client, fed)
    sighting = {
        "kind": "sighting",
        "point": {"type": "Point", "coordinates": [117.3, 34.46]},
        "seen_at": seen_at,
    }
    send = envelope("sighting", sighting, request_id=request.uid, sequence=2)
    response = signed(client, send, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400, response.content
    assert "seen_at" in str(response.json())
    assert request.case.sightings.count() == 0
    # The case's pages and sighting list still answer.
    client.force_login(fed.coordinator)
    assert client.get(f"/api/v1/cases/{request.case_id}/sightings/").status_code == 200
    assert client.get(f"/cases/{request.case_id}/map/").status_code == 200


def test_a_sequence_far_ahead_is_refused_and_nothing_waits(client, fed):
    request = _accepted(client, fed)
    far = envelope(
        "note",
        {"text": "parked"},
        request_id=request.uid,
        sequence=2 + inbox.MAX_SEQUENCE_AHEAD,
    )
    response = signed(client, far, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 409, response.content
    assert "sequence" in response.json()
    assert not InboxMessage.objects.filter(applied_at__isnull=True).exists()
    # Just inside the bound waits, as before.
    near = envelope(
        "note",
        {"text": "early"},
        request_id=request.uid,
        sequence=1 + inbox.MAX_SEQUENCE_AHEAD,
    )
    assert signed(client, near, key=fed.key, secrets=[fed.secret]).status_code == 202


def test_the_waiting_room_of_a_request_is_bounded(client, fed, monkeypatch):
    monkeypatch.setattr(inbox, "MAX_WAITING_PER_REQUEST", 3)
    request = _accepted(client, fed)
    for seq in (3, 4, 5):
        send = envelope("note", {"text": f"n{seq}"}, request_id=request.uid, sequence=seq)
        assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 202
    fourth = envelope("note", {"text": "n6"}, request_id=request.uid, sequence=6)
    response = signed(client, fourth, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 409
    assert InboxMessage.objects.filter(applied_at__isnull=True).count() == 3
    # The gap filled, the waiting ones apply and the room is free again.
    gap = envelope("note", {"text": "n2"}, request_id=request.uid, sequence=2)
    assert signed(client, gap, key=fed.key, secrets=[fed.secret]).status_code == 200
    request.refresh_from_db()
    assert request.seq_in == 5


def test_unknown_keys_in_a_summary_or_contact_are_not_stored_nor_shown(client, fed):
    data = request_data()
    data["summary"]["reporter_phone"] = "+8613999999999"
    data["summary"]["anything"] = "<script>alert(1)</script>"
    data["contact"]["home_address"] = "secret street 1"
    response = signed(client, envelope("request", data), key=fed.key, secrets=[fed.secret])
    assert response.status_code == 201, response.content
    request = MutualAidRequest.objects.get()
    assert "reporter_phone" not in request.summary and "anything" not in request.summary
    assert request.summary["subject_name"] == "王老先生"
    assert "home_address" not in request.contact and request.contact["name"]
    client.force_login(fed.coordinator)
    for url in ("/aid/", "/api/v1/mutual-aid/", f"/api/v1/mutual-aid/{request.uid}/"):
        body = client.get(url).content.decode()
        assert "13999999999" not in body and "secret street" not in body and "alert(1)" not in body


def test_a_request_id_is_one_partners_only(client, fed):
    first = envelope("request", request_data())
    assert signed(client, first, key=fed.key, secrets=[fed.secret]).status_code == 201
    other = make_partner("PC2", 33.9)
    second = envelope("request", request_data(), request_id=first["request_id"])
    response = signed(client, second, key=other.key, secrets=[other.secret])
    assert response.status_code == 409, response.content
    assert "request_id" in response.json()
    assert MutualAidRequest.objects.count() == 1
    # Our pages and the API still find the one request by its id.
    client.force_login(fed.coordinator)
    assert client.get("/aid/").status_code == 200
    answer = client.get(f"/api/v1/mutual-aid/{first['request_id']}/")
    assert answer.status_code == 200 and answer.json()["status"] == AidStatus.ACKNOWLEDGED


def test_a_partners_found_time_ahead_of_our_clock_is_taken_as_now(client, fed):
    request = _accepted(client, fed)
    ahead = (timezone.now() + timedelta(minutes=30)).isoformat()
    found = {
        "point": {"type": "Point", "coordinates": [117.3, 34.46]},
        "found_at": ahead,
        "condition": "well",
        "with_whom": "Partner unit 3",
    }
    send = envelope("found", found, request_id=request.uid, sequence=2)
    assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 200
    assert request.case.sightings.get(kind="found").seen_at <= timezone.now()
