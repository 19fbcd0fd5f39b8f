"""A coordinator answers a partner's request for aid on a 360 px phone, in Chinese."""

import pytest
from django.core.management import call_command
from django.test import Client

from search.models import MutualAidRequest
from tests.browser.conftest import a11y_problems
from tests.search.federation.helpers import envelope, request_data, signed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_accepts_a_request_from_the_board(live_server, phone, shoot, capsys):
    call_command("seed_demo", allow_production=True, verbosity=0)
    call_command("issue_partner_key", "HS")
    call_command("partner_secret", "HS")
    key, secret = capsys.readouterr().out.split()
    body = envelope("request", request_data())
    assert signed(Client(), body, key=key, secrets=[secret]).status_code == 201

    page = phone
    page.goto(f"{live_server.url}/accounts/login/")
    with page.expect_navigation():
        page.select_option("#language", "zh-hans")
    page.fill("#id_username", "coordinator")
    page.fill("#id_password", "beacon-coordinator")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    page.goto(f"{live_server.url}/aid/")
    assert page.locator("h1").inner_text() == "跨区协助"
    badge = page.locator(".topnav .badge").text_content()
    assert badge.strip() == "1 等待我方答复", badge
    their_case = page.locator("#aid-" + str(MutualAidRequest.objects.get().uid)).inner_text()
    # The partner's category code is shown with our own label, in the reader's language.
    assert "王老先生" in their_case and "失智老人" in their_case and "dementia" not in their_case
    assert a11y_problems(page) == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the board scrolls sideways ({width} px)"
    shoot(page, "aid-01-board-zh")
    with page.expect_navigation():
        page.click("form[action$='/accept/'] button[type=submit]")
    shoot(page, "aid-02-accepted-zh")
    request = MutualAidRequest.objects.get()
    assert request.status == "accepted" and request.case_id
    assert "已接受" in page.content()
    # The partner in this test is not listening: the board says a message still waits.
    assert "1 条消息待发送" in page.content()
