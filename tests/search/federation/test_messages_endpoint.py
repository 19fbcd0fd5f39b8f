"""POST /api/v1/federation/messages/: keys, signatures, replay, order and bad input."""

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import PartnerAPIKey
from search.choices import AidDirection, AidStatus
from search.federation.signing import new_secret
from search.models import InboxMessage, MutualAidRequest
from search.services.aid import desk
from search.services.timeline import Origin
from tests.search.dispatch_world import open_case
from tests.search.federation.conftest import make_partner
from tests.search.federation.helpers import envelope, request_data, signed

pytestmark = pytest.mark.django_db


def stored() -> tuple[int, int]:
    return MutualAidRequest.objects.count(), InboxMessage.objects.count()


def test_request_is_acknowledged_and_a_replay_gets_the_first_answer(client, fed):
    body = envelope("request", request_data())
    first = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert first.status_code == 201, first.content
    request = MutualAidRequest.objects.get()
    assert request.direction == AidDirection.INBOUND
    assert request.status == AidStatus.ACKNOWLEDGED
    assert str(request.uid) == body["request_id"]
    assert request.summary["subject_name"] == "王老先生"
    again = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert again.status_code == 201
    assert again.json() == first.json()
    assert stored() == (1, 1)


@pytest.mark.parametrize(
    "how",
    [
        "no-key",
        "unknown-key",
        "revoked-key",
        "no-signature",
        "wrong-secret",
        "stale",
        "future",
        "tampered",
        "garbage-signature",
    ],
)
def test_bad_credentials_get_401_and_nothing_is_stored(client, fed, how):
    body = envelope("request", request_data())
    kwargs = {"key": fed.key, "secrets": [fed.secret]}
    if how == "no-key":
        response = signed(client, body, **kwargs, drop=("authorization",))
    elif how == "unknown-key":
        response = signed(client, body, key="AAAAAAAA.notakeyatall", secrets=[fed.secret])
    elif how == "revoked-key":
        PartnerAPIKey.objects.update(revoked=True)
        response = signed(client, body, **kwargs)
    elif how == "no-signature":
        response = signed(client, body, **kwargs, drop=("webhook-signature",))
    elif how == "wrong-secret":
        response = signed(client, body, key=fed.key, secrets=[new_secret()])
    elif how == "stale":
        response = signed(client, body, **kwargs, age=timedelta(minutes=6))
    elif how == "future":
        response = signed(client, body, **kwargs, age=timedelta(minutes=-6))
    elif how == "tampered":
        from search.federation.client import encode

        text = encode(body)
        response = signed(
            client,
            body,
            **kwargs,
            raw=text.replace("王老先生", "someone else").encode(),
            msg_id=body["id"],
            sign_over=text,
        )
    else:
        response = signed(
            client, body, **kwargs, extra={"HTTP_WEBHOOK_SIGNATURE": "v1 no-comma-here"}
        )
    assert response.status_code == 401, response.content
    assert stored() == (0, 0)


def test_a_retired_partner_asks_nothing_new_but_its_open_requests_run_to_their_end(client, fed):
    kwargs = {"key": fed.key, "secrets": [fed.secret]}
    first = envelope("request", request_data())
    assert signed(client, first, **kwargs).status_code == 201
    fed.partner.is_active = False
    fed.partner.save(update_fields=["is_active"])

    new = signed(client, envelope("request", request_data()), **kwargs)
    assert new.status_code == 403, new.content
    assert "no longer take new requests" in new.json()["type"][0]
    assert stored() == (1, 1)

    request_id = first["request_id"]
    note = envelope("note", {"text": "still looking"}, request_id=request_id, sequence=2)
    assert signed(client, note, **kwargs).status_code == 200
    end = envelope("cancelled", {"reason": "found at home"}, request_id=request_id, sequence=3)
    assert signed(client, end, **kwargs).status_code == 200
    assert MutualAidRequest.objects.get().status == AidStatus.CANCELLED

    # Its key revoked: nothing more, not even on a request it holds.
    PartnerAPIKey.objects.update(revoked=True)
    late = envelope("note", {"text": "one more"}, request_id=request_id, sequence=4)
    assert signed(client, late, **kwargs).status_code == 401
    assert stored() == (1, 3)


def test_a_key_belongs_to_one_partner_and_its_own_secret(client, fed):
    other = make_partner("PC2", 33.9)
    body = envelope("request", request_data())
    # Other partner's key, our partner's secret: the signature is checked with the key's partner.
    response = signed(client, body, key=other.key, secrets=[fed.secret])
    assert response.status_code == 401
    assert stored() == (0, 0)


def test_a_rotated_secret_is_accepted_alone_or_beside_the_new_one(client, fed):
    old, new = fed.secret, new_secret()
    fed.partner.signing_secret, fed.partner.signing_secret_previous = new, old
    fed.partner.save()
    assert (
        signed(client, envelope("request", request_data()), key=fed.key, secrets=[old]).status_code
        == 201
    )
    assert (
        signed(
            client, envelope("request", request_data()), key=fed.key, secrets=[new, old]
        ).status_code
        == 201
    )
    fed.partner.signing_secret_previous = ""
    fed.partner.save()
    response = signed(client, envelope("request", request_data()), key=fed.key, secrets=[old])
    assert response.status_code == 401


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[117.29, 34.44], [117.31, 34.46], [117.31, 34.44], [117.29, 34.46], [117.29, 34.44]]
    ],
}
OPEN_RING = {
    "type": "Polygon",
    "coordinates": [[[117.29, 34.44], [117.31, 34.44], [117.31, 34.46], [117.29, 34.46]]],
}
BORDER_3D = {
    "type": "Polygon",
    "coordinates": [
        [[117.29, 34.44, 10], [117.31, 34.44, 10], [117.31, 34.46, 10], [117.29, 34.44, 10]]
    ],
}
SUMMARY = request_data()["summary"]
FAR_POINT = {"type": "Point", "coordinates": [200.0, 34.45]}
OUT_OF_RANGE = {
    "type": "Polygon",
    "coordinates": [[[190, 34.44], [191, 34.44], [191, 95], [190, 34.44]]],
}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (request_data(area=BOWTIE), "area"),
        (request_data(area=OPEN_RING), "area"),
        (request_data(area=OUT_OF_RANGE), "area"),
        (request_data(area={"type": "Point", "coordinates": [1, 2]}), "area"),
        (request_data(area="not geojson"), "area"),
        # A foreign coordinate system would put the area somewhere else entirely.
        (request_data(area={**request_data()["area"], "crs": {"type": "name"}}), "area"),
        (request_data(summary={**SUMMARY, "last_seen_point": FAR_POINT}), "summary"),
        (request_data(reason=""), "reason"),
        (request_data(summary={**request_data()["summary"], "category": "dragon"}), "summary"),
        (request_data(contact={}), "contact"),
    ],
)
def test_bad_request_data_is_400_with_field_errors(client, fed, data, field):
    response = signed(client, envelope("request", data), key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400, response.content
    assert field in response.json()["data"]
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(type="teleport"), "type"),
        (lambda b: b.update(sequence=0), "sequence"),
        (lambda b: b.update(request_id="not-a-uuid"), "request_id"),
        (lambda b: b.pop("data"), "data"),
    ],
)
def test_bad_envelopes_are_400(client, fed, mutate, field):
    body = envelope("request", request_data())
    mutate(body)
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert stored() == (0, 0)


def test_malformed_json_is_400_and_a_body_over_the_limit_is_413(client, fed):
    response = signed(client, None, key=fed.key, secrets=[fed.secret], raw=b'{"id": "x", ')
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    with override_settings(FEDERATION={**_federation(), "MAX_BODY_BYTES": 1024}):
        big = envelope("request", request_data(reason="x" * 1500))
        response = signed(client, big, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 413
    big = envelope("request", request_data())
    big["data"]["padding"] = "x" * (1024 * 1024)
    assert signed(client, big, key=fed.key, secrets=[fed.secret]).status_code == 413
    assert stored() == (0, 0)


def _federation():
    from django.conf import settings

    return settings.FEDERATION


def test_the_id_must_match_the_signed_id_and_idempotency_key(client, fed):
    body = envelope("request", request_data())
    response = signed(client, body, key=fed.key, secrets=[fed.secret], msg_id=str(uuid.uuid4()))
    assert response.status_code == 400
    assert "id" in response.json()
    response = signed(
        client,
        body,
        key=fed.key,
        secrets=[fed.secret],
        extra={"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    assert stored() == (0, 0)


def _outbound(fed):
    case = open_case(fed.world)
    return desk.aid_request_send(
        origin=Origin(actor=fed.coordinator), case=case, partner=fed.partner, reason="border"
    )


def test_a_message_for_an_unknown_request_is_404(client, fed):
    body = envelope("accepted", {"note": "on our way"}, sequence=1)
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 404
    assert "request_id" in response.json()
    assert InboxMessage.objects.count() == 0


def test_a_message_that_skips_the_lifecycle_is_409_and_changes_nothing(client, fed):
    request = _outbound(fed)
    # Active before accepted.
    body = envelope("active", {}, request_id=request.uid, sequence=1)
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 409, response.content
    request.refresh_from_db()
    assert request.status == AidStatus.SENT and request.seq_in == 0
    # A helper cannot close the asking city's case.
    body = envelope("closed", {"outcome": "found_well"}, request_id=request.uid, sequence=1)
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 409
    assert request.case.status in ("open", "active")
    # Reports before acceptance.
    body = envelope(
        "sighting",
        {
            "kind": "sighting",
            "point": {"type": "Point", "coordinates": [117.3, 34.46]},
            "seen_at": "2026-01-01T00:00:00Z",
        },
        request_id=request.uid,
        sequence=1,
    )
    assert signed(client, body, key=fed.key, secrets=[fed.secret]).status_code == 409
    assert InboxMessage.objects.count() == 0


def test_an_early_message_waits_for_the_one_before_it(client, fed):
    request = _outbound(fed)
    second = envelope("active", {}, request_id=request.uid, sequence=2)
    response = signed(client, second, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 202
    assert response.json()["waiting_for"] == 1
    request.refresh_from_db()
    assert request.status == AidStatus.SENT
    first = envelope("accepted", {"note": "yes"}, request_id=request.uid, sequence=1)
    assert signed(client, first, key=fed.key, secrets=[fed.secret]).status_code == 200
    request.refresh_from_db()
    assert request.status == AidStatus.ACTIVE and request.seq_in == 2
    assert InboxMessage.objects.filter(applied_at__isnull=False).count() == 2
    # The early message replayed gets its first answer; a new id on a used sequence is refused.
    assert signed(client, second, key=fed.key, secrets=[fed.secret]).status_code == 202
    reused = envelope("note", {"text": "hello"}, request_id=request.uid, sequence=2)
    assert signed(client, reused, key=fed.key, secrets=[fed.secret]).status_code == 409


def test_a_partner_cannot_touch_another_partners_request(client, fed):
    request = _outbound(fed)
    other = make_partner("PC2", 33.9)
    body = envelope("accepted", {}, request_id=request.uid, sequence=1)
    response = signed(client, body, key=other.key, secrets=[other.secret])
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == AidStatus.SENT


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(sequence=2**31), "sequence"),
        (lambda b: b["data"].update(area={**BORDER_3D}), "area"),
    ],
)
def test_out_of_range_numbers_and_heights_are_400_not_500(client, fed, mutate, field):
    body = envelope("request", request_data())
    mutate(body)
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 400, response.content
    assert field in str(response.json())
    assert stored() == (0, 0)


def test_a_sequence_given_as_a_string_is_read_as_a_number(client, fed):
    request = _outbound(fed)
    body = envelope("accepted", {"note": ""}, request_id=request.uid, sequence=1)
    body["sequence"] = "1"
    response = signed(client, body, key=fed.key, secrets=[fed.secret])
    assert response.status_code == 200, response.content
    request.refresh_from_db()
    assert request.status == AidStatus.ACCEPTED and request.seq_in == 1


def test_reports_touch_only_the_partners_sectors_and_take_its_clock_as_it_is(client, fed):
    from django.utils import timezone

    from search.models import Sector
    from search.services.areas import dispatch_case

    request = _outbound(fed)
    dispatch_case(case_id=request.case_id)
    ours, theirs = Sector.objects.filter(case=request.case)[:2]
    Sector.objects.filter(pk=theirs.pk).update(partner=fed.partner)
    send = envelope("accepted", {"note": ""}, request_id=request.uid, sequence=1)
    assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 200
    cells = {"cells": [ours.h3_index, theirs.h3_index], "coverage": 0.8}
    send = envelope("sectors_searched", cells, request_id=request.uid, sequence=2)
    assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 200
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert theirs.status == "searched" and theirs.coverage == 0.8
    assert ours.status != "searched"
    # A lower figure later does not undo coverage.
    cells = {"cells": [theirs.h3_index], "coverage": 0.3}
    send = envelope("sectors_searched", cells, request_id=request.uid, sequence=3)
    assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 200
    theirs.refresh_from_db()
    assert theirs.coverage == 0.8
    # Their clock runs ten minutes ahead: the sighting is kept, at our "now" at the latest.
    ahead = (timezone.now() + timezone.timedelta(minutes=10)).isoformat()
    sighting = {
        "kind": "sighting",
        "point": {"type": "Point", "coordinates": [117.3, 34.46]},
        "seen_at": ahead,
    }
    send = envelope("sighting", sighting, request_id=request.uid, sequence=4)
    assert signed(client, send, key=fed.key, secrets=[fed.secret]).status_code == 200
    assert request.case.sightings.get().seen_at <= timezone.now()
