"""A clerk files reports in Chinese and in English in a real browser, and finds them."""

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from search.models import Case
from tests.browser.conftest import a11y_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def switch_language(page, code: str) -> None:
    with page.expect_navigation():
        page.select_option("#language", code)


def fill_report(page, *, name: str, phone: str) -> None:
    seen = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_subject_name", name)
    page.select_option("#id_category", "young_child")
    page.fill("#id_estimated_age", "5")
    page.fill("#id_clothing", "红色外套 red coat")
    page.fill("#id_last_seen_at", seen)
    page.fill("#id_reporter_name", "王芳")
    page.fill("#id_reporter_phone", phone)
    page.select_option("#id_report_channel", "phone_110")


def test_clerk_files_in_chinese_and_english_and_finds_both(live_server, phone, shoot):
    call_command("seed_demo", allow_production=True, verbosity=0)
    page = phone
    page.goto(f"{live_server.url}/accounts/login/")
    switch_language(page, "zh-hans")
    assert page.locator("h1").inner_text() == "登录"
    shoot(page, "intake-01-login-zh")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "beacon-clerk")
    with page.expect_navigation():
        page.click("button[type=submit].primary")

    page.goto(f"{live_server.url}/cases/new/")
    assert "新建走失人员报案" in page.locator("h1").inner_text()
    shoot(page, "intake-02-form-zh")
    assert a11y_problems(page) == []
    fill_report(page, name="张小红", phone="abc")
    page.fill("#id_latitude", "34.30")
    page.fill("#id_longitude", "117.45")
    with page.expect_navigation():
        page.click("form.case-form button[type=submit]")
    assert "不是电话号码" in page.locator(".field.has-error").first.inner_text()
    shoot(page, "intake-03-form-error-zh")
    page.fill("#id_reporter_phone", "13800138000")
    with page.expect_navigation():
        page.click("form.case-form button[type=submit]")

    heading = page.locator("h1").inner_text()
    reference = re.search(r"PC-\d{4}-\d{6}", heading).group(0)
    assert "张小红" in heading
    assert "紧急" in page.locator(".badge").first.inner_text()  # a young child: critical
    shoot(page, "intake-04-case-zh")
    assert a11y_problems(page) == []
    page.goto(f"{live_server.url}/cases/")
    assert reference in page.locator(".cards").inner_text()
    shoot(page, "intake-05-list-zh")

    switch_language(page, "en")
    page.goto(f"{live_server.url}/cases/new/")
    assert page.locator("h1").inner_text() == "New missing-person report"
    fill_report(page, name="Li Ming", phone="+86 138 0013 8001")
    # Pin the place with a tap on the map (no tiles here; the pin is what counts).
    page.locator("#pin-map").click(position={"x": 150, "y": 120})
    assert page.input_value("#id_latitude") and page.input_value("#id_longitude")
    page.fill("#id_latitude", "34.31")  # keep it inside the demo city whatever the map shows
    page.fill("#id_longitude", "117.46")
    shoot(page, "intake-06-form-en")
    with page.expect_navigation():
        page.click("form.case-form button[type=submit]")
    second = re.search(r"PC-\d{4}-\d{6}", page.locator("h1").inner_text()).group(0)

    page.goto(f"{live_server.url}/cases/")
    listing = page.locator(".cards").inner_text()
    assert reference in listing and second in listing and "Li Ming" in listing
    shoot(page, "intake-07-list-en")
    assert Case.objects.count() == 2
    # The page fits the phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
