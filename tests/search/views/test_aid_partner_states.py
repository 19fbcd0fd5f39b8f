"""How delivery to each partner stands: the aid board's partners and the case page's requests."""

import re
from datetime import timedelta
from math import cos, radians
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from search.choices import AidStatus
from search.models import MutualAidRequest, OutboxMessage, PartnerLink
from search.services.aid import desk
from search.services.timeline import Origin
from tests.factories import OrganisationFactory, UserFactory
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.conftest import make_partner

pytestmark = pytest.mark.django_db

# Partners north and south of our city (TC spans latitudes 34.05..34.45), 0.4° squares each.
NORTH, SOUTH, FAR_NORTH = 34.65, 33.85, 35.05


def browser(user, **headers) -> Client:
    web = Client(**headers)
    web.force_login(user)
    return web


def cells(html: str, row_id: str) -> list[str]:
    """Return the texts of the cells of the table row with this id, tags dropped."""
    match = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row {row_id}"
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


def row_tag(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>', html)
    assert match, f"no row {row_id}"
    return match.group(0)


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def city():
    world = build_world()
    return SimpleNamespace(world=world, coordinator=world.clerk, origin=Origin(actor=world.clerk))


def ask(city, case, partner) -> MutualAidRequest:
    return desk.aid_request_send(
        origin=city.origin, case=case, partner=partner, reason="Heading their way"
    )


def deliver_all(request: MutualAidRequest) -> None:
    OutboxMessage.objects.filter(request=request).update(delivered_at=timezone.now())


@pytest.fixture
def down_and_up(city):
    """PB does not answer (three messages wait, the oldest two hours); PC answers, nothing waits."""
    now = timezone.now()
    pb, pc = make_partner("PB", NORTH), make_partner("PC", SOUTH)
    case = open_case(city.world)
    to_pb = ask(city, case, pb.partner)
    desk.aid_note(origin=city.origin, request=to_pb, text="Still looking")
    desk.aid_note(origin=city.origin, request=to_pb, text="Dog team out")
    first = OutboxMessage.objects.filter(request=to_pb).order_by("seq").first()
    OutboxMessage.objects.filter(pk=first.pk).update(created_at=now - timedelta(hours=2, minutes=5))
    down_since = now - timedelta(hours=1, minutes=30)
    PartnerLink.objects.create(
        partner=pb.partner,
        reachable=False,
        since=down_since,
        failures=3,
        probe_at=now + timedelta(minutes=1),
        last_success_at=now - timedelta(hours=3),
        last_error="ConnectionError: refused by http://127.0.0.1:9/api/v1/messages/",
    )
    to_pc = ask(city, case, pc.partner)
    deliver_all(to_pc)
    PartnerLink.objects.create(
        partner=pc.partner,
        reachable=True,
        since=now - timedelta(days=2),
        last_success_at=now - timedelta(minutes=10),
        last_error="ReadTimeout: an old one",
    )
    return SimpleNamespace(
        pb=pb, pc=pc, case=case, to_pb=to_pb, to_pc=to_pc, down_since=down_since, now=now
    )


def test_the_board_shows_the_partner_that_does_not_answer_and_what_waits_for_it(city, down_and_up):
    board = browser(city.coordinator).get("/aid/").content.decode()
    assert "Partners" in board
    name, state, waiting, oldest, answered, error = cells(board, "partner-PB")
    assert "PB" in name
    assert state.startswith("Not answering")
    assert f"since {local(down_and_up.down_since)} (1 hour, 30 minutes)" in state
    # The request and two notes wait, the oldest for two hours.
    assert waiting == "3" and oldest.startswith("2 hours")
    assert answered == local(down_and_up.now - timedelta(hours=3))
    assert error.startswith("ConnectionError: refused")
    assert 'class="warn"' in row_tag(board, "partner-PB")

    name, state, waiting, oldest, answered, error = cells(board, "partner-PC")
    assert state.startswith("Reachable") and "(2 days)" in state
    assert (waiting, oldest) == ("0", "-")
    assert answered == local(down_and_up.now - timedelta(minutes=10))
    assert error == "-"  # an old error of a partner that answers again is noise
    assert "warn" not in row_tag(board, "partner-PC")
    # Those not answering come first.
    assert board.index('id="partner-PB"') < board.index('id="partner-PC"')


def test_the_board_shows_no_partner_credentials(city, down_and_up):
    board = browser(city.coordinator).get("/aid/").content.decode()
    for pa in (down_and_up.pb, down_and_up.pc):
        assert pa.secret not in board and pa.key not in board
        assert pa.partner.outbound_api_key not in board


def test_only_partners_with_a_request_we_see_or_a_link_are_listed(city):
    now = timezone.now()
    pb, pc, pd, pe = (
        make_partner(code, lat)
        for code, lat in (("PB", NORTH), ("PC", SOUTH), ("PD", FAR_NORTH), ("PE", 35.45))
    )
    ask(city, open_case(city.world), pb.partner)  # asked, never delivered: no link yet
    PartnerLink.objects.create(partner=pc.partner, reachable=True, since=now)
    pe.partner.is_active = False
    pe.partner.save()
    PartnerLink.objects.create(partner=pe.partner, reachable=False, since=now)
    board = browser(city.coordinator).get("/aid/").content.decode()
    _, state, waiting, oldest, answered, error = cells(board, "partner-PB")
    assert (state, waiting, answered, error) == ("never contacted", "1", "-", "-")
    assert oldest != "-"
    assert cells(board, "partner-PC")[1].startswith("Reachable")
    assert 'id="partner-PD"' not in board  # nothing between us
    assert 'id="partner-PE"' not in board  # no longer a partner
    # A district's coordinator does not see the city's case: PB is not theirs to watch.
    district = OrganisationFactory(parent=city.world.city)
    theirs = browser(UserFactory(organisation=district, roles=["coordinator"])).get("/aid/")
    assert 'id="partner-PB"' not in theirs.content.decode()
    assert 'id="partner-PC"' in theirs.content.decode()
    assert pd.partner.pk


def test_a_retired_partner_stays_on_the_board_while_it_has_messages_waiting(city):
    pb = make_partner("PB", NORTH)
    request = ask(city, open_case(city.world), pb.partner)
    pb.partner.is_active = False
    pb.partner.save()

    board = browser(city.coordinator).get("/aid/").content.decode()
    assert cells(board, "partner-PB")[2] == "1"

    OutboxMessage.objects.filter(request=request).update(delivered_at=timezone.now())
    board = browser(city.coordinator).get("/aid/").content.decode()
    assert 'id="partner-PB"' not in board


def test_the_partners_table_is_only_for_coordinators_and_supervisors(city, down_and_up):
    supervisor = UserFactory(organisation=city.world.city, roles=["supervisor"])
    assert 'id="partner-PB"' in browser(supervisor).get("/aid/").content.decode()
    for role in ("clerk", "field"):
        outsider = UserFactory(organisation=city.world.city, roles=[role])
        response = browser(outsider).get("/aid/")
        assert response.status_code == 403
        assert "ConnectionError" not in response.content.decode()
    assert Client().get("/aid/").status_code == 302


def test_the_board_in_chinese(city, down_and_up):
    board = browser(city.coordinator, HTTP_ACCEPT_LANGUAGE="zh-hans").get("/aid/").content.decode()
    assert "协作城市" in board and "待发消息" in board and "最早待发" in board
    _, state, waiting, oldest, _, _ = cells(board, "partner-PB")
    assert state.startswith("无应答") and local(down_and_up.down_since) in state
    assert waiting == "3" and oldest.startswith("2 小时")
    assert cells(board, "partner-PC")[1].startswith("可连通")


def _board_queries(user) -> int:
    web = browser(user)
    with CaptureQueriesContext(connection) as ctx:
        assert web.get("/aid/").status_code == 200
    return len(ctx.captured_queries)


def test_the_board_reads_the_same_number_of_queries_for_one_partner_or_three(city):
    now = timezone.now()
    partners = [make_partner(c, lat) for c, lat in (("PB", NORTH), ("PC", SOUTH))]

    def add(pa, case):
        request = ask(city, case, pa.partner)
        desk.aid_note(origin=city.origin, request=request, text="note")
        PartnerLink.objects.create(
            partner=pa.partner, reachable=False, since=now, last_error="ConnectionError"
        )

    add(partners[0], open_case(city.world))
    one = _board_queries(city.coordinator)
    add(partners[1], open_case(city.world))
    third = make_partner("PD", FAR_NORTH)
    add(third, open_case(city.world))
    board = browser(city.coordinator).get("/aid/").content.decode()
    assert all(f'id="partner-{c}"' in board for c in ("PB", "PC", "PD"))
    assert _board_queries(city.coordinator) == one


def geodesic_km2_of_square(lat: float, half: float = 0.2) -> float:
    """Return about how many km² a `half`-degree square at this latitude covers."""
    return (2 * half * 111.32 * cos(radians(lat))) * (2 * half * 110.95)


def test_the_case_page_shows_each_partners_request_side_by_side(city):
    now = timezone.now()
    partners = {
        code: make_partner(code, lat)
        for code, lat in (("PB", NORTH), ("PC", SOUTH), ("PD", FAR_NORTH))
    }
    case = open_case(city.world)
    requests = {code: ask(city, case, pa.partner) for code, pa in partners.items()}
    # PB does not answer (a note waits too); PC took the request on; PD never heard from us yet.
    desk.aid_note(origin=city.origin, request=requests["PB"], text="Still looking")
    down_since = now - timedelta(minutes=45)
    PartnerLink.objects.create(
        partner=partners["PB"].partner, reachable=False, since=down_since, failures=2
    )
    deliver_all(requests["PC"])
    accepted_at = now - timedelta(minutes=20)
    MutualAidRequest.objects.filter(pk=requests["PC"].pk).update(
        status=AidStatus.ACCEPTED, status_changed_at=accepted_at
    )
    PartnerLink.objects.create(partner=partners["PC"].partner, reachable=True, since=now)

    page = browser(city.coordinator).get(f"/cases/{case.pk}/").content.decode()
    rows = {code: cells(page, f"aid-{r.uid}") for code, r in requests.items()}
    pb, pc, pd = rows["PB"], rows["PC"], rows["PD"]
    assert [r[0].split()[-1] for r in (pb, pc, pd)] == ["PB", "PC", "PD"]
    assert {r[1] for r in rows.values()} == {"We asked"}
    assert (pb[2], pc[2], pd[2]) == ("Sent", "Accepted", "Sent")
    assert pc[3] == local(accepted_at)
    assert pb[4].startswith("Note ·") and pd[4].startswith("Request for aid ·")
    assert (pb[5], pc[5], pd[5]) == ("2", "0", "1")  # request + note; delivered; request
    assert pb[6] == f"not answering since {local(down_since)}"
    assert 'class="warn"' in page.split(f'id="aid-{requests["PB"].uid}"')[1].split("</tr>")[0]
    assert (pc[6], pd[6]) == ("Reachable", "never contacted")
    # The area asked for (here the partner's whole region) in km² on the spheroid, not in
    # square degrees: each row its own figure.
    for code, cols in rows.items():
        region = partners[code].partner.region
        assert requests[code].area == region
        expected = geodesic_km2_of_square(region.centroid.y)
        assert float(cols[7].replace(",", "")) == pytest.approx(expected, rel=0.01), code
    assert len({cols[7] for cols in rows.values()}) == 3


def test_the_case_page_in_chinese_and_its_queries_do_not_grow_with_partners(city):
    case = open_case(city.world)
    pb = make_partner("PB", NORTH)
    ask(city, case, pb.partner)
    PartnerLink.objects.create(partner=pb.partner, reachable=False, since=timezone.now())
    web = browser(city.coordinator, HTTP_ACCEPT_LANGUAGE="zh-hans")
    with CaptureQueriesContext(connection) as ctx:
        page = web.get(f"/cases/{case.pk}/").content.decode()
    one = len(ctx.captured_queries)
    assert "无应答" in page and "面积" in page
    for code, lat in (("PC", SOUTH), ("PD", FAR_NORTH)):
        ask(city, case, make_partner(code, lat).partner)
    with CaptureQueriesContext(connection) as ctx:
        page = web.get(f"/cases/{case.pk}/").content.decode()
    assert page.count("尚未联系") == 2
    assert len(ctx.captured_queries) == one
