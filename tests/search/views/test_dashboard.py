"""/supervision/ and its CSV: who may see which tree, bad periods refused, constant queries."""

import csv
import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from search.figures import FIGURE_LIST, Share
from search.views.dashboard import duration_text
from tests.factories import OrganisationFactory, UnitFactory, UserFactory
from tests.search.figures_world import at, build, make_case, make_task, sector_of

pytestmark = pytest.mark.django_db

PERIOD = "start=2026-11-01&end=2026-11-10"
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world():
    world = build()
    world.users = {
        role: UserFactory(username=f"fc-{role}", organisation=world.city, roles=[role])
        for role in ("supervisor", "coordinator", "clerk", "field", "counsellor")
    }
    world.users["county"] = UserFactory(
        username="fca-supervisor", organisation=world.county_a, roles=["supervisor"]
    )
    return world


def get(client, user, path):
    client.force_login(user)
    return client.get(path)


def figures_ran(ctx) -> bool:
    """Return whether any of the figures' queries ran (they all aggregate with percentiles or
    count supervision orders; no other query of these pages does)."""
    return any(
        "percentile_cont" in q["sql"] or "search_supervisionorder" in q["sql"]
        for q in ctx.captured_queries
    )


def csv_rows(response) -> dict[tuple[str, str], str]:
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["figure", "breakdown", "value"]
    return {(key, breakdown): value for key, breakdown, value in rows[1:]}


# --- What the page shows ---------------------------------------------------------------------


def test_supervisor_sees_every_figure_with_its_definition(client, world):
    response = get(client, world.users["supervisor"], f"/supervision/?{PERIOD}")
    assert response.status_code == 200
    page = response.content.decode()
    for figure in FIGURE_LIST:
        assert escape(str(figure.definition)) in page, figure.key
    figures = response.context["figures"]
    # The same numbers as tests/search/test_figures.py: the page computes them the same way.
    assert figures.dispatch_3min == Share(3, 6) and "3 of 6" in page
    assert figures.feedback_24h == Share(3, 4) and "3 of 4" in page
    assert figures.time_to_locate.median == timedelta(hours=16)
    assert "16 h 0 min" in page and "42 h 36 min" in page
    # A chart drawn in SVG next to a table for each, as many of one as of the other.
    assert page.count("<svg") == page.count("<table") >= 7
    # The period is local days: 1 Nov 00:00 to 11 Nov 00:00, Shanghai time.
    assert figures.start == datetime(2026, 11, 1, tzinfo=SH)
    assert figures.end == datetime(2026, 11, 11, tzinfo=SH)
    assert [row.code for row in figures.organisations] == ["FC", "FCA", "FCB"]
    assert 'href="/supervision/figures.csv?start=2026-11-01&amp;end=2026-11-10&amp;org=' in page


def test_coordinator_may_see_the_figures_too(client, world):
    response = get(client, world.users["coordinator"], f"/supervision/?{PERIOD}")
    assert response.status_code == 200
    assert response.context["figures"].recovery.closed == 4


def test_the_default_period_is_the_last_30_days_ending_today(client, world):
    response = get(client, world.users["supervisor"], "/supervision/")
    assert response.status_code == 200
    today = timezone.localdate(timezone=SH)
    figures = response.context["figures"]
    assert figures.start == datetime.combine(today - timedelta(days=29), time.min, tzinfo=SH)
    assert figures.end == datetime.combine(today + timedelta(days=1), time.min, tzinfo=SH)
    assert response.context["organisation"] == world.city


def test_a_city_user_may_choose_a_county_of_its_tree(client, world):
    response = get(
        client, world.users["supervisor"], f"/supervision/?{PERIOD}&org={world.county_a.pk}"
    )
    assert response.status_code == 200
    figures = response.context["figures"]
    # FCA's own: A and B closed; no city row, no other county.
    assert figures.recovery.closed == 2
    assert [row.code for row in figures.organisations] == ["FCA"]


def test_a_county_desk_sees_only_its_own_tree(client, world):
    with CaptureQueriesContext(connection) as ctx:
        response = get(client, world.users["county"], f"/supervision/?{PERIOD}")
    assert response.status_code == 200 and figures_ran(ctx)
    assert [row.code for row in response.context["figures"].organisations] == ["FCA"]
    # The organisations it may choose are its own tree only.
    assert [pk for pk, _label in response.context["form"].fields["org"].choices] == [
        world.county_a.pk
    ]


@pytest.mark.parametrize("path", ["/supervision/", "/supervision/figures.csv"])
@pytest.mark.parametrize("whose", ["city", "county_b", "outsider"])
def test_a_county_desk_asking_for_another_tree_gets_an_error_not_numbers(
    client, world, path, whose
):
    other = {"city": world.city, "county_b": world.county_b, "outsider": world.outsider}[whose]
    with CaptureQueriesContext(connection) as ctx:
        response = get(client, world.users["county"], f"{path}?{PERIOD}&org={other.pk}")
    assert response.status_code == 400
    text = response.content.decode()
    assert "You may see the figures of your own organisation and those below it only." in text
    assert not figures_ran(ctx)
    if path == "/supervision/":
        assert "figures" not in response.context


def test_the_csv_has_one_row_per_value(client, world):
    response = get(client, world.users["supervisor"], f"/supervision/figures.csv?{PERIOD}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "figures-FC-20261101-20261110.csv" in response["Content-Disposition"]
    values = csv_rows(response)
    # Worked out in tests/search/test_figures.py: 3 of 6, 16 h, 42 h 36 min, 2 of 4 ...
    assert values[("target_dispatch_3min", "")] == "0.5"
    assert values[("time_to_locate_median_seconds", "")] == str(16 * 3600)
    assert values[("time_to_locate_p90_seconds", "")] == str(42 * 3600 + 36 * 60)
    assert values[("located_within_24h", "")] == "0.5"
    assert values[("located_within_24h", "category=youth")] == ""
    assert values[("coverage_mean", "")] == "0.76"
    assert values[("cases_closed", "organisation=FCA")] == "2"
    assert values[("aid_requests", "partner=PA;status=declined")] == "1"
    assert values[("tasks_offered", "")] == "7"


def test_the_csv_of_a_county_is_its_own(client, world):
    response = get(client, world.users["county"], f"/supervision/figures.csv?{PERIOD}")
    values = csv_rows(response)
    assert values[("cases_closed", "")] == "2"
    assert ("cases_closed", "organisation=FC") not in values


def test_the_figures_link_is_in_the_top_bar_for_those_who_may_open_it(client, world):
    assert 'href="/supervision/"' in get(client, world.users["supervisor"], "/").content.decode()
    assert 'href="/supervision/"' not in get(client, world.users["clerk"], "/").content.decode()


# --- Who may not -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/supervision/", "/supervision/figures.csv"])
@pytest.mark.parametrize("role", ["clerk", "field", "counsellor"])
def test_other_roles_are_refused(client, world, path, role):
    assert get(client, world.users[role], f"{path}?{PERIOD}").status_code == 403


@pytest.mark.parametrize("path", ["/supervision/", "/supervision/figures.csv"])
def test_nobody_signed_in_is_sent_to_sign_in(client, world, path):
    response = client.get(f"{path}?{PERIOD}")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_supervisor_of_no_organisation_is_refused(client, world):
    nowhere = UserFactory(organisation=None, roles=["supervisor"])
    assert get(client, nowhere, "/supervision/").status_code == 403


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-11-10&end=2026-11-01", "The end date is before the start date."),
        (
            "start=2016-01-01&end=2026-01-01",
            "The period is longer than 10 years; choose a shorter one.",
        ),
        ("start=2026-13-45&end=2026-11-10", "Enter a valid date."),
        ("start=yesterday", "Enter a valid date."),
        ("start=0001-01-01&end=0001-01-02", "Give a date between 1900 and 2999."),
        ("start=2026-11-01&end=9999-12-31", "Give a date between 1900 and 2999."),
        ("org=abc", "You may see the figures of your own organisation and those below it only."),
        (
            "org=" + "9" * 30,
            "You may see the figures of your own organisation and those below it only.",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/supervision/", "/supervision/figures.csv"])
def test_bad_input_is_a_400_with_its_message_and_no_figures(client, world, path, query, message):
    with CaptureQueriesContext(connection) as ctx:
        response = get(client, world.users["supervisor"], f"{path}?{query}")
    assert response.status_code == 400
    assert escape(message) in response.content.decode()
    # Nothing was computed: no query read a case.
    assert not figures_ran(ctx)
    if path == "/supervision/":
        assert "figures" not in response.context
        assert "no figures are shown" in response.content.decode()


def test_exactly_ten_years_is_allowed(client, world):
    response = get(
        client, world.users["supervisor"], "/supervision/?start=2016-01-01&end=2025-12-31"
    )
    assert response.status_code == 200


# --- Cost --------------------------------------------------------------------------------------

# The session and user, the user's tree (one query a level), the figures (eleven), the top
# bar's count of partners' requests waiting (the tree again and one count).
PAGE_QUERY_BUDGET = 22


def test_the_page_costs_the_same_for_one_case_as_for_thirty(client):
    city = OrganisationFactory(code="QC")
    county = OrganisationFactory(code="QCA", level="county", parent=city)
    unit = UnitFactory(organisation=county)
    client.force_login(UserFactory(organisation=city, roles=["supervisor"]))

    def add_case(n: int) -> None:
        # Filed 2 Nov, offered 2 min later, located and closed the next day.
        case = make_case(
            county, created=at(11, 2, n % 24), located=at(11, 3, 1), closed=at(11, 3, 2),
            outcome="found_well",
        )  # fmt: skip
        make_task(case, sector_of(case), unit, offered=at(11, 2, n % 24, 2),
                  answered=at(11, 2, n % 24, 3), started=at(11, 2, n % 24, 9),
                  finished=at(11, 2, 23), coverage=0.5, status="done")  # fmt: skip

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/supervision/?{PERIOD}")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    add_case(0)
    one = page_queries()
    for n in range(1, 30):
        add_case(n)
    thirty = page_queries()
    response = client.get(f"/supervision/figures.csv?{PERIOD}")
    assert csv_rows(response)[("cases_closed", "")] == "30"
    assert one == thirty <= PAGE_QUERY_BUDGET


# --- How durations read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "–"),
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=2, seconds=29), "2 min"),
        (timedelta(hours=16), "16 h 0 min"),
        (timedelta(hours=47, minutes=59), "47 h 59 min"),
        (timedelta(days=2, hours=3, minutes=10), "2 d 3 h"),
    ],
)
def test_durations_read_as_people_say_them(value, text):
    assert duration_text(value) == text


def test_the_days_of_the_form_are_shanghai_days(client):
    city = OrganisationFactory(code="TZC")
    client.force_login(UserFactory(organisation=city, roles=["supervisor"]))
    utc = ZoneInfo("UTC")
    # 31 Oct 16:30 UTC is 1 Nov 00:30 in Shanghai: in the period.
    make_case(city, created=datetime(2026, 10, 31, 12, tzinfo=utc),
              closed=datetime(2026, 10, 31, 16, 30, tzinfo=utc), outcome="returned",
              located=datetime(2026, 10, 31, 16, 30, tzinfo=utc))  # fmt: skip
    # 10 Nov 16:30 UTC is 11 Nov 00:30 in Shanghai: after the period.
    make_case(city, created=datetime(2026, 11, 10, 12, tzinfo=utc),
              closed=datetime(2026, 11, 10, 16, 30, tzinfo=utc), outcome="returned",
              located=datetime(2026, 11, 10, 16, 30, tzinfo=utc))  # fmt: skip
    response = client.get(f"/supervision/?{PERIOD}")
    assert response.context["figures"].recovery.closed == 1
