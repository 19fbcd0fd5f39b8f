"""A case at a corner where three partners' regions meet: three requests, three parts of the
area, one closure that reaches them all, each delivered to its own partner's server."""

import json
from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon

from accounts.models import Partner, PartnerAPIKey
from search.choices import AidDirection, AidStatus
from search.federation.signing import new_secret
from search.geo import SRID
from search.models import MutualAidRequest, OutboxMessage
from search.services import lifecycle, queue
from search.services.aid import relay
from search.services.areas import dispatch_case
from search.services.timeline import Origin
from tests.factories import OrganisationFactory
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.helpers import envelope, signed
from tests.search.services.aid.test_relay import FakePartner

# The test city is the box 117.1-117.5 E, 34.05-34.45 N; the three partners lie east, north
# and north-east of its north-east corner, where the person was last seen.
CORNER = (117.5, 34.45)
REGIONS = {
    "PE": (117.5, 34.05, 117.9, 34.45),
    "PN": (117.1, 34.45, 117.5, 34.85),
    "PX": (117.5, 34.45, 117.9, 34.85),
}


@pytest.fixture
def servers():
    made = {}
    yield made
    for server in made.values():
        server.stop()


@pytest.fixture
def corner(db, servers, monkeypatch):
    # What the relay queues runs when the test says: the drains are called below.
    monkeypatch.setattr(queue, "publish", lambda *args, **kwargs: True)
    world = build_world()
    partners = {}
    for code, box in REGIONS.items():
        servers[code] = FakePartner()
        region = MultiPolygon(Polygon.from_bbox(box), srid=SRID)
        secret = new_secret()
        partner = Partner.objects.create(
            organisation=OrganisationFactory(code=code, jurisdiction=region),
            base_url=servers[code].url,
            region=region,
            signing_secret=secret,
            outbound_api_key=f"key-{code}",
            auto_send=True,
        )
        _, key = PartnerAPIKey.objects.create_key(partner=partner, name="test")
        partners[code] = SimpleNamespace(partner=partner, key=key, secret=secret)
    case = open_case(world, at=(CORNER[0] - 0.003, CORNER[1] - 0.003))
    dispatch_case(case_id=case.pk)
    return SimpleNamespace(world=world, case=case, partners=partners)


def drain_all() -> None:
    for request_id in set(
        OutboxMessage.objects.filter(delivered_at__isnull=True).values_list("request_id", flat=True)
    ):
        assert relay.stream_drain(request_id=request_id).stopped == "drained"


def test_each_partner_is_asked_for_its_own_part_of_the_area(corner, servers):
    requests = {
        r.partner.organisation.code: r
        for r in MutualAidRequest.objects.filter(case=corner.case).select_related(
            "partner__organisation"
        )
    }
    assert set(requests) == set(REGIONS)
    assert {r.direction for r in requests.values()} == {AidDirection.OUTBOUND}
    drain_all()

    area = corner.case.areas.get(is_current=True).boundary
    parts = {}
    for code, server in servers.items():
        (body,) = server.received
        assert body["type"] == "request" and body["request_id"] == str(requests[code].uid)
        part = GEOSGeometry(json.dumps(body["data"]["area"]))
        parts[code] = part
        region = corner.partners[code].partner.region
        # Inside its partner's region (to rounding), and a real share of the search area.
        assert part.difference(region).area < 1e-9
        assert part.area > 0.05 * area.area
    for a in parts:
        for b in parts:
            if a < b:
                assert parts[a].intersection(parts[b]).area < 1e-9, (a, b)
    # Each request is acknowledged on its own.
    assert set(
        MutualAidRequest.objects.filter(case=corner.case).values_list("status", flat=True)
    ) == {AidStatus.ACKNOWLEDGED}


def test_closure_reaches_all_three_each_as_its_request_stands(client, corner, servers):
    drain_all()
    helping = MutualAidRequest.objects.get(case=corner.case, partner__organisation__code="PN")
    pn = corner.partners["PN"]
    accepted = signed(
        client,
        envelope("accepted", {"note": "two teams"}, request_id=helping.uid, sequence=1),
        key=pn.key,
        secrets=[pn.secret],
    )
    assert accepted.status_code == 200, accepted.content

    lifecycle.case_close(
        origin=Origin(actor=corner.world.clerk), case=corner.case, outcome="found_well", note="ok"
    )
    drain_all()

    last = {code: server.received[-1] for code, server in servers.items()}
    assert last["PN"]["type"] == "closed" and last["PN"]["data"]["outcome"] == "found_well"
    assert last["PE"]["type"] == "cancelled" and last["PX"]["type"] == "cancelled"
    assert {code: [b["sequence"] for b in s.received] for code, s in servers.items()} == {
        "PE": [1, 2],
        "PN": [1, 2],
        "PX": [1, 2],
    }
    statuses = dict(
        MutualAidRequest.objects.filter(case=corner.case).values_list(
            "partner__organisation__code", "status"
        )
    )
    assert statuses == {
        "PE": AidStatus.CANCELLED,
        "PN": AidStatus.COMPLETED,
        "PX": AidStatus.CANCELLED,
    }
