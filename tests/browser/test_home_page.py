"""The coordinator's desk on a 360 px phone and on a desktop: one tap from a line to where it is
acted on."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Organisation, Unit, User
from search.models import Alert, SupervisionOrder
from tests.browser.conftest import a11y_problems
from tests.factories import CaseFactory, SearchAreaFactory, SectorFactory, TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def work_for_the_coordinator():
    """A critical case in the county with an alert, an offer running out and an overdue order."""
    dsx = Organisation.objects.get(code="DSX")
    supervisor = User.objects.get(username="supervisor")
    now = timezone.now()
    case = CaseFactory(
        organisation=dsx, subject_name="王老先生", category="dementia", priority=1, status="active"
    )
    Alert.objects.create(case=case, kind="sighting", message="A walking stick by the canal bridge")
    sector = SectorFactory(area=SearchAreaFactory(case=case), case=case)
    TaskFactory(
        sector=sector,
        case=case,
        unit=Unit.objects.filter(organisation=dsx).first(),
        expires_at=now + timedelta(seconds=40),
    )
    SupervisionOrder.objects.create(
        case=case,
        issued_by=supervisor,
        issuer_organisation=supervisor.organisation,
        addressee_organisation=supervisor.organisation,
        instruction="Widen the search to the canal's far bank and report by phone.",
        deadline=now - timedelta(minutes=10),
        created_at=now - timedelta(hours=1),
    )
    return case


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "coordinator")
    page.fill("#id_password", "beacon-coordinator")
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def test_the_coordinators_desk_fits_a_phone_and_a_line_opens_the_case_map(
    live_server, phone, shoot
):
    call_command("seed_demo", allow_production=True, verbosity=0)
    case = work_for_the_coordinator()

    page = phone
    sign_in(page, live_server.url)

    assert page.url == f"{live_server.url}/"
    assert page.locator("#desk-offers .cards a").count() == 1
    assert "overdue" in page.locator("#desk-orders").inner_text()
    assert a11y_problems(page) == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the desk scrolls sideways ({width} px)"
    shoot(page, "home-01-coordinator-phone")

    with page.expect_navigation():
        page.locator("#desk-alerts .cards a").first.click()
    assert page.url == f"{live_server.url}/cases/{case.pk}/map/#alerts"
    assert "A walking stick by the canal bridge" in page.locator("main").inner_text()


def test_on_a_desktop_the_open_cases_stand_beside_what_to_act_on(live_server, chromium, shoot):
    call_command("seed_demo", allow_production=True, verbosity=0)
    work_for_the_coordinator()
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, live_server.url)

        act = page.locator("#desk-offers").bounding_box()
        cases = page.locator("#desk-cases").bounding_box()
        assert cases["x"] > act["x"] + act["width"] / 2, (act, cases)
        assert abs(cases["y"] - act["y"]) < 80, (act, cases)
        shoot(page, "home-02-coordinator-desktop")
    finally:
        context.close()
