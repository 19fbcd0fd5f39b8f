"""The home page: each role's desk, its rows most urgent first, nothing from another city."""

from datetime import datetime, time, timedelta
from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import MultiPolygon, Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, Partner
from search.choices import AlertKind, Priority
from search.geo import SRID
from search.models import (
    Alert,
    Case,
    CrisisContact,
    MutualAidRequest,
    Sector,
    SupervisionOrder,
    Task,
)
from search.selectors import DUPLICATE_WINDOW, OFFER_EXPIRY_WARNING
from tests.factories import (
    CENTRE,
    AidRequestFactory,
    CaseFactory,
    OrganisationFactory,
    SearchAreaFactory,
    SectorFactory,
    TaskFactory,
    UnitFactory,
    UserFactory,
    square,
)

pytestmark = pytest.mark.django_db

ALL_DESKS = ("coordinator", "supervisor", "clerk", "counsellor")


@pytest.fixture
def city():
    """A city with one county, a unit, a partner next door, and an outsider: another city."""
    top = OrganisationFactory()
    county = OrganisationFactory(parent=top, level=Organisation.Level.COUNTY)
    partner = Partner.objects.create(
        organisation=OrganisationFactory(
            jurisdiction=MultiPolygon(square(CENTRE[0], CENTRE[1] + 0.6, 0.2), srid=SRID)
        ),
        base_url="http://127.0.0.1:9/api/v1/",
        region=MultiPolygon(square(CENTRE[0], CENTRE[1] + 0.6, 0.2), srid=SRID),
    )
    other = OrganisationFactory()
    return SimpleNamespace(
        top=top,
        county=county,
        unit=UnitFactory(organisation=top),
        partner=partner,
        other=other,
        outsider=UserFactory(organisation=other, roles=list(ALL_DESKS)),
    )


def person(organisation, *roles):
    return UserFactory(organisation=organisation, roles=list(roles))


def filed(organisation, *, ago=timedelta(0), **values) -> Case:
    """A case filed `ago` before now (created_at is auto_now_add: set it after)."""
    case = CaseFactory(organisation=organisation, **values)
    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - ago)
    case.refresh_from_db()
    return case


def alert(case, *, kind=AlertKind.SIGHTING, ago=timedelta(0), acknowledged=False) -> Alert:
    row = Alert.objects.create(case=case, kind=kind, message=f"{kind} on {case.reference}")
    Alert.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - ago, acknowledged_at=timezone.now() if acknowledged else None
    )
    return row


def sector(case, **values):
    area = case.areas.filter(is_current=True).first() or SearchAreaFactory(case=case)
    return SectorFactory(area=area, case=case, **values)


def task(case, unit, **values) -> Task:
    return TaskFactory(sector=sector(case), case=case, unit=unit, **values)


def order(case, *, issuer, desk, deadline_in: timedelta, person=None) -> SupervisionOrder:
    now = timezone.now()
    return SupervisionOrder.objects.create(
        case=case,
        issued_by=issuer,
        issuer_organisation=issuer.organisation,
        addressee_organisation=desk,
        addressee_user=person,
        instruction=f"Report on {case.reference}",
        deadline=now + deadline_in,
        created_at=now - timedelta(hours=1),
    )


def home(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response


def rows(response, role: str, section: str) -> list:
    return response.context[role][section].rows


def pks(items) -> list[int]:
    return [item.pk for item in items]


# --- Who gets what -------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_field_member_with_no_other_role_is_sent_to_the_field_app(client, city):
    client.force_login(person(city.top, "field"))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == reverse("field_home")


def test_a_field_member_who_also_coordinates_gets_the_desk_and_a_way_to_the_field_app(client, city):
    user = person(city.top, "field", "coordinator")
    city.unit.members.add(user)
    task(filed(city.top), city.unit)

    response = home(client, user)

    assert "coordinator" in response.context and "clerk" not in response.context
    assert response.context["field_tasks"] == 1
    assert f'href="{reverse("field_home")}"' in response.content.decode()


@pytest.mark.parametrize("role", ALL_DESKS)
def test_each_role_sees_its_own_desk_and_no_other(client, city, role):
    response = home(client, person(city.top, role))

    page = response.content.decode()
    for desk in ALL_DESKS:
        assert (desk in response.context) == (desk == role), desk
        assert (f'id="desk-{desk}"' in page) == (desk == role), desk


def test_someone_with_several_roles_sees_the_desk_of_each(client, city):
    response = home(client, person(city.top, "clerk", "counsellor", "supervisor"))

    page = response.content.decode()
    assert [d for d in ALL_DESKS if f'id="desk-{d}"' in page] == [
        "supervisor",
        "clerk",
        "counsellor",
    ]


def test_a_user_with_no_role_is_told_there_is_no_desk(client, city):
    response = home(client, person(city.top))

    assert not any(desk in response.context for desk in ALL_DESKS)
    assert "no desk role" in response.content.decode()


# --- Coordinator ---------------------------------------------------------------------------------


def test_open_cases_most_urgent_priority_first_oldest_first_within_it_with_their_age(client, city):
    coordinator = person(city.top, "coordinator")
    normal_old = filed(city.top, ago=timedelta(hours=5))
    critical_new = filed(city.county, ago=timedelta(minutes=10), priority=Priority.CRITICAL)
    critical_old = filed(city.top, ago=timedelta(hours=3), priority=Priority.CRITICAL)
    normal_new = filed(city.top, ago=timedelta(hours=1), status="active")
    filed(city.top, status="closed", outcome="found_well")
    filed(city.other)

    response = home(client, coordinator)

    expected = [critical_old, critical_new, normal_old, normal_new]
    assert pks(rows(response, "coordinator", "cases")) == pks(expected)
    page = response.content.decode()
    assert f'href="{reverse("case_detail", args=[critical_old.pk])}"' in page
    assert "open for 3\xa0hours" in page


def test_unacknowledged_alerts_on_open_cases_newest_first_link_to_the_case_map(client, city):
    coordinator = person(city.top, "coordinator")
    case, other = filed(city.top), filed(city.county)
    older = alert(case, ago=timedelta(minutes=30))
    newer = alert(other, kind=AlertKind.FOUND, ago=timedelta(minutes=2))
    alert(case, acknowledged=True)
    alert(filed(city.top, status="closed", outcome="withdrawn"))

    response = home(client, coordinator)

    assert pks(rows(response, "coordinator", "alerts")) == [newer.pk, older.pk]
    assert f'href="{reverse("case_map", args=[other.pk])}#alerts"' in response.content.decode()


def test_offers_about_to_expire_or_expired_with_the_sector_still_waiting(client, city):
    coordinator = person(city.top, "coordinator")
    now = timezone.now()
    case = filed(city.top, status="active")
    soon = task(case, city.unit, expires_at=now + OFFER_EXPIRY_WARNING / 2)
    sooner = task(case, UnitFactory(organisation=city.top), expires_at=now + timedelta(seconds=5))
    task(case, UnitFactory(organisation=city.top), expires_at=now + timedelta(minutes=3))
    untaken = task(case, city.unit, status="expired", expires_at=now - timedelta(minutes=2))
    # Expired, but the sector went to the next unit since: not the coordinator's to chase.
    retried = task(case, city.unit, status="expired", expires_at=now - timedelta(minutes=5))
    TaskFactory(
        sector=retried.sector,
        case=case,
        unit=UnitFactory(organisation=city.top),
        rank=2,
        status="declined",
    )
    oldest = task(case, city.unit, status="expired", expires_at=now - timedelta(minutes=9))
    searched = task(case, city.unit, status="expired", expires_at=now - timedelta(minutes=7))
    Sector.objects.filter(pk=searched.sector_id).update(status="searched")
    paused = filed(city.top, search_paused=True)
    task(paused, city.unit, status="expired", expires_at=now - timedelta(minutes=1))

    response = home(client, coordinator)

    shown = rows(response, "coordinator", "offers")
    assert pks(shown) == [oldest.pk, untaken.pk, sooner.pk, soon.pk]
    page = response.content.decode()
    assert f'href="{reverse("case_map", args=[case.pk])}#open-tasks"' in page
    assert "no unit has taken it" in page
    assert f"answer due in {shown[2].seconds_left} seconds" in page


def test_accepted_or_started_tasks_gone_silent_longest_silent_first(client, city, settings):
    settings.DISPATCH = {**settings.DISPATCH, "STALE_TASK_SECONDS": 1800}
    coordinator = person(city.top, "coordinator")
    now = timezone.now()
    case = filed(city.top, status="active")
    units = [UnitFactory(organisation=city.top) for _ in range(4)]
    hour = task(case, units[0], status="in_progress", last_activity_at=now - timedelta(hours=1))
    two = task(case, units[1], status="accepted", last_activity_at=now - timedelta(hours=2))
    task(case, units[2], status="accepted", last_activity_at=now - timedelta(minutes=10))
    task(case, units[3], status="offered", last_activity_at=now - timedelta(hours=3))

    response = home(client, coordinator)

    assert pks(rows(response, "coordinator", "silent")) == [two.pk, hour.pk]
    assert "no news for 2\xa0hours" in response.content.decode()


def test_cases_whose_waiting_sectors_no_unit_can_take(client, city):
    coordinator = person(city.top, "coordinator")
    stuck = filed(city.top, status="active", priority=Priority.HIGH)
    for _ in range(3):
        sector(stuck)
    sector(stuck, status="offered")
    alert(stuck, kind=AlertKind.NO_UNITS, ago=timedelta(minutes=20))
    critical = filed(city.county, priority=Priority.CRITICAL)
    sector(critical, status="needs_research")
    alert(critical, kind=AlertKind.NO_UNITS, ago=timedelta(minutes=5))
    seen = filed(city.top)  # the coordinator acknowledged it; the sweep raises it again if so
    sector(seen)
    alert(seen, kind=AlertKind.NO_UNITS, acknowledged=True)
    all_out = filed(city.top)  # flagged, but every sector has been offered since
    sector(all_out, status="offered")
    alert(all_out, kind=AlertKind.NO_UNITS)

    response = home(client, coordinator)

    shown = rows(response, "coordinator", "unreachable")
    assert pks(shown) == [critical.pk, stuck.pk]
    assert [c.sectors_waiting for c in shown] == [1, 3]
    page = response.content.decode()
    assert "3 sectors waiting" in page
    assert f'href="{reverse("case_map", args=[stuck.pk])}#queue"' in page


def test_partner_requests_waiting_for_our_answer_oldest_first_link_to_the_board(client, city):
    coordinator = person(city.top, "coordinator")
    old = AidRequestFactory(partner=city.partner, status="sent")
    new = AidRequestFactory(partner=city.partner)
    MutualAidRequest.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    AidRequestFactory(partner=city.partner, status="declined")

    response = home(client, coordinator)

    assert pks(rows(response, "coordinator", "aid")) == [old.pk, new.pk]
    assert f'href="{reverse("aid_board")}#aid-{new.uid}"' in response.content.decode()


def test_orders_addressed_to_the_coordinator_overdue_first(client, city):
    supervisor = person(city.top, "supervisor")
    coordinator = person(city.county, "coordinator")
    case = filed(city.county)
    later = order(case, issuer=supervisor, desk=city.county, deadline_in=timedelta(hours=2))
    overdue = order(case, issuer=supervisor, desk=city.county, deadline_in=-timedelta(hours=1))
    mine = order(
        case,
        issuer=supervisor,
        desk=city.county,
        deadline_in=timedelta(hours=1),
        person=coordinator,
    )
    order(case, issuer=supervisor, desk=city.top, deadline_in=timedelta(hours=1))

    response = home(client, coordinator)

    assert pks(rows(response, "coordinator", "orders")) == [overdue.pk, mine.pk, later.pk]
    page = response.content.decode()
    assert f'href="{overdue.get_absolute_url()}"' in page
    assert page.count('class="order overdue"') == 1


# --- Supervisor ----------------------------------------------------------------------------------


def test_supervisor_sees_the_orders_they_issued_overdue_first_and_what_is_open_now(client, city):
    supervisor = person(city.top, "supervisor")
    colleague = person(city.top, "supervisor")
    case = filed(city.county, priority=Priority.CRITICAL)
    filed(city.top, status="active")
    filed(city.top)
    filed(city.top, status="closed", outcome="found_well")
    filed(city.other, priority=Priority.CRITICAL)
    later = order(case, issuer=supervisor, desk=city.county, deadline_in=timedelta(days=1))
    overdue = order(case, issuer=supervisor, desk=city.county, deadline_in=-timedelta(hours=2))
    order(case, issuer=colleague, desk=city.county, deadline_in=-timedelta(hours=1))

    response = home(client, supervisor)

    assert pks(rows(response, "supervisor", "issued")) == [overdue.pk, later.pk]
    open_now = response.context["supervisor"]["open_now"]
    assert dict(open_now.cases_by_priority) == {
        Priority.CRITICAL: 1,
        Priority.HIGH: 0,
        Priority.NORMAL: 2,
    }
    assert open_now.open_cases == 3
    assert open_now.overdue_orders == 2  # the colleague's counts: it is the tree's
    assert 'href="/supervision/"' in response.content.decode()


# --- Clerk ---------------------------------------------------------------------------------------


def test_clerk_sees_the_reports_filed_today_in_the_centres_local_day_newest_first(client, city):
    clerk = person(city.county, "clerk")
    local = timezone.localtime(timezone.now(), timezone.get_default_timezone())
    midnight = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    first, last = filed(city.county), filed(city.county, status="closed", outcome="withdrawn")
    yesterday, elsewhere = filed(city.county), filed(city.top)
    for case, at in [
        (first, midnight + timedelta(minutes=1)),
        (last, midnight + timedelta(minutes=2)),
        (yesterday, midnight - timedelta(minutes=1)),
        (elsewhere, midnight + timedelta(minutes=3)),  # the city's, above the clerk's county
    ]:
        Case.objects.filter(pk=case.pk).update(created_at=at)

    response = home(client, clerk)

    assert pks(rows(response, "clerk", "today")) == [last.pk, first.pk]
    assert str(timezone.get_default_timezone()) == "Asia/Shanghai"


def test_clerk_sees_recent_reports_that_may_be_a_person_already_reported(client, city):
    clerk = person(city.top, "clerk")
    now = timezone.now()
    near = Point(CENTRE[0] + 0.01, CENTRE[1], srid=SRID)  # about 1 km east
    far = Point(CENTRE[0] + 0.3, CENTRE[1], srid=SRID)  # about 28 km east
    # Filed before the review window, last seen 4 days ago...
    earlier = filed(
        city.county,
        ago=timedelta(days=4),
        subject_name="王芳",
        last_seen_at=now - timedelta(days=4),
    )
    # ...and reported again today, last seen 1.5 days ago: within the window of each other.
    again = filed(
        city.top,
        ago=timedelta(minutes=5),
        subject_name="王 芳",
        estimated_age=43,
        last_seen_at=now - timedelta(days=1, hours=12),
        last_seen_point=near,
    )
    # Two recent reports of one person: the pair is listed once, under the newer.
    first = filed(city.top, ago=timedelta(days=1), subject_name="张伟")
    second = filed(city.top, ago=timedelta(hours=1), subject_name="张伟", priority=Priority.HIGH)
    # Same name, but too far, too old a subject, closed, linked already or another city's.
    filed(city.top, subject_name="张伟", last_seen_point=far)
    filed(city.top, subject_name="张伟", estimated_age=80)
    filed(city.top, subject_name="张伟", status="closed", outcome="found_well")
    filed(city.other, subject_name="张伟")
    linked_a = filed(city.top, subject_name="刘洋", estimated_age=9)
    linked_b = filed(city.top, subject_name="刘洋", estimated_age=9)
    linked_a.linked_cases.add(linked_b)
    filed(city.top, subject_name="陈静")

    response = home(client, clerk)

    reviews = rows(response, "clerk", "duplicates")
    assert [(r.case.pk, pks(o for o, _ in r.others)) for r in reviews] == [
        (second.pk, [first.pk]),
        (again.pk, [earlier.pk]),
    ]
    page = response.content.decode()
    assert f'href="{reverse("case_detail", args=[earlier.pk])}"' in page
    assert "drafts" not in page.lower()
    assert timedelta(days=3) == DUPLICATE_WINDOW


# --- Counsellor ----------------------------------------------------------------------------------


def test_counsellor_sees_the_crisis_queue_longest_without_contact_first(client, city):
    counsellor = person(city.top, "counsellor")
    now = timezone.now()
    contacted_long_ago = filed(city.top, ago=timedelta(hours=9), self_harm_risk=True)
    never = filed(city.county, ago=timedelta(hours=4), self_harm_risk=True)
    contacted_recently = filed(city.top, ago=timedelta(hours=8), self_harm_risk=True)
    never_new = filed(city.top, ago=timedelta(minutes=20), self_harm_risk=True)
    filed(city.top, self_harm_risk=False)
    filed(city.other, self_harm_risk=True)
    for case, ago in [
        (contacted_long_ago, timedelta(hours=6)),
        (contacted_long_ago, timedelta(hours=7)),
        (contacted_recently, timedelta(minutes=30)),
    ]:
        CrisisContact.objects.create(
            case=case,
            counsellor=counsellor,
            attempted_at=now - ago,
            channel="phone",
            result="no_answer",
        )

    response = home(client, counsellor)

    expected = [contacted_long_ago, never, contacted_recently, never_new]
    assert pks(rows(response, "counsellor", "queue")) == pks(expected)
    page = response.content.decode()
    assert "last contact attempt 6\xa0hours ago" in page
    assert "never contacted" in page and "filed 4\xa0hours ago" in page
    assert f'href="{reverse("case_detail", args=[never.pk])}#contact"' in page


# --- Another city --------------------------------------------------------------------------------


def test_another_citys_staff_see_none_of_this_citys_work(client, city):
    boss = person(city.top, *ALL_DESKS)
    populate(city, boss, 2)

    mine = home(client, boss)
    theirs = home(client, city.outsider)

    # Every section has something for this city's staff...
    sections = {
        role: [name for name, shown in mine.context[role].items() if hasattr(shown, "rows")]
        for role in ALL_DESKS
    }
    assert all(rows(mine, role, name) for role, names in sections.items() for name in names)
    # ...and nothing for the other city's, but partners' requests that no desk has taken yet:
    # every city's top desk sees those (aid_requests_visible_to).
    leaked = {
        (role, name)
        for role, names in sections.items()
        for name in names
        if rows(theirs, role, name) and name != "aid"
    }
    assert leaked == set()
    assert theirs.context["supervisor"]["open_now"].open_cases == 0
    assert theirs.context["supervisor"]["open_now"].overdue_orders == 0
    page = theirs.content.decode()
    assert not any(c.reference in page for c in Case.objects.exclude(organisation=city.other))


# --- Cost ----------------------------------------------------------------------------------------


def populate(city, boss, n: int) -> None:
    """Give every section of every desk n rows' worth of work."""
    now = timezone.now()
    for i in range(n):
        case = filed(
            city.county, ago=timedelta(hours=1), self_harm_risk=True, subject_name=f"赵{i}"
        )
        filed(city.top, ago=timedelta(days=1), subject_name=f"赵{i}")
        alert(case)
        alert(case, kind=AlertKind.NO_UNITS)
        sector(case)
        units = [UnitFactory(organisation=city.top) for _ in range(3)]
        task(case, units[0], expires_at=now + timedelta(seconds=20))
        task(case, units[1], status="expired", expires_at=now - timedelta(minutes=1))
        task(case, units[2], status="accepted", last_activity_at=now - timedelta(hours=2))
        order(case, issuer=boss, desk=city.top, deadline_in=-timedelta(minutes=i + 1))
        AidRequestFactory(partner=city.partner)
        CrisisContact.objects.create(
            case=case, counsellor=boss, attempted_at=now, channel="phone", result="reached"
        )


def test_the_page_costs_the_same_queries_for_one_case_as_for_twenty(client, city):
    boss = person(city.top, *ALL_DESKS)
    client.force_login(boss)

    def count(n: int) -> int:
        populate(city, boss, n)
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/")
        assert response.status_code == 200
        return len(captured.captured_queries)

    one = count(1)
    twenty = count(19)  # 20 of everything now

    assert rows(client.get("/"), "coordinator", "offers")
    assert twenty == one


def test_the_supervisor_sees_the_last_30_days_headline_figures(client, city):
    boss = person(city.top, "supervisor")
    now = timezone.now()
    found = filed(city.county, ago=timedelta(days=3), status="closed", outcome="found_well")
    lost = filed(city.county, ago=timedelta(days=3), status="closed", outcome="not_found")
    old = filed(city.county, ago=timedelta(days=90), status="closed", outcome="not_found")
    Case.objects.filter(pk=found.pk).update(
        located_at=found.created_at + timedelta(hours=5), closed_at=now - timedelta(days=2)
    )
    Case.objects.filter(pk=lost.pk).update(closed_at=now - timedelta(days=1))
    # Closed long before the 30 days: not counted.
    Case.objects.filter(pk=old.pk).update(closed_at=now - timedelta(days=60))
    # Another city's case: never counted.
    filed(city.other, ago=timedelta(days=3), status="closed", outcome="not_found")
    client.force_login(boss)
    page = client.get(reverse("home"))
    headline = {
        str(f.key): (value, detail) for f, value, detail in page.context["supervisor"]["headline"]
    }
    # Closed in the 30 days: found + lost = 2, located 1: 50 %.
    assert headline["recovery_rate"] == ("50%", "1 of 2")
    # Found 5 h after the report.
    assert headline["time_to_locate_median_seconds"][0] == "5 h 0 min"
    assert reverse("dashboard") in page.content.decode()
