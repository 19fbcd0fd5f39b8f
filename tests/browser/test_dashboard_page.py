"""A supervisor reads the figures on a 360 px phone: nothing scrolls sideways, nothing refused."""

import pytest

from tests.browser.conftest import a11y_problems
from tests.factories import UserFactory
from tests.search import figures_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_supervisor_reads_the_figures_on_a_phone(live_server, phone, shoot):
    world = figures_world.build()
    UserFactory(username="fc-super", organisation=world.city, roles=["supervisor"])

    page = phone
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "fc-super")
    page.fill("#id_password", "pw-for-tests")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    page.goto(f"{live_server.url}/supervision/?start=2026-11-01&end=2026-11-10")
    assert page.locator("h1").inner_text() == "Figures"
    # The recovery rate and its definition, the charts drawn as SVG beside their tables.
    rate = page.locator("[data-figure=recovery_rate]").inner_text()
    assert "100%" in rate and "4 of 4" in rate and "withdrawn" in rate
    assert page.locator("svg.chart").count() == page.locator("table.figures-table").count() >= 7
    assert a11y_problems(page) == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the figures scroll sideways ({width} px)"
    shoot(page, "figures-01-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, "figures-02-desktop")
