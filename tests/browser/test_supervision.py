"""The centre's loop in a browser: a supervisor orders, the coordinator answers from the desk,
the supervisor closes it as satisfied. Screenshots of each role's home page and the dashboard."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from search.choices import OrderStatus
from search.models import SupervisionOrder
from search.services import intake, lifecycle
from search.services.timeline import Origin
from tests.browser.conftest import a11y_problems, phone_context
from tests.search.intake_data import service_values

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}


def sign_in(page, url, username):
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"beacon-{username}")
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def desktop(chromium):
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(30_000)
    return context


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways at 360 px ({width} px)"


def test_supervisor_orders_coordinator_answers_supervisor_satisfied(live_server, chromium, shoot):
    call_command("seed_demo", allow_production=True, verbosity=0)
    clerk = User.objects.get(username="clerk")
    case = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(service_values(subject_name="Zhang Wei", self_harm_risk=True)),
    )
    located = intake.case_open(
        origin=Origin(actor=clerk), data=intake.CaseInput(service_values(subject_name="Li Na"))
    )
    not_found = intake.case_open(
        origin=Origin(actor=clerk), data=intake.CaseInput(service_values(subject_name="Wu Gang"))
    )
    for ended, outcome in [(located, "found_well"), (not_found, "not_found")]:
        lifecycle.case_close(
            origin=Origin(actor=User.objects.get(username="coordinator")),
            case=ended,
            outcome=outcome,
        )
    url = live_server.url

    boss_context = desktop(chromium)
    boss = boss_context.new_page()
    sign_in(boss, url, "supervisor")
    boss.goto(f"{url}/cases/{case.pk}/")
    with boss.expect_navigation():
        boss.click("text=Issue a supervision order")
    boss.fill("#id_instruction", "Widen the search to the canal and call the family back.")
    deadline = timezone.localtime(timezone.now() + timedelta(hours=2))
    boss.fill("#id_deadline", deadline.strftime("%Y-%m-%dT%H:%M"))
    boss.select_option("#id_desk", label=str(User.objects.get(username="coordinator").organisation))
    with boss.expect_navigation():
        boss.click("button[type=submit].primary")
    order = SupervisionOrder.objects.get()
    assert boss.locator("#order-status").inner_text() == "Issued"
    boss.goto(f"{url}/")
    assert "Widen the search" in boss.locator("#supervisor-orders").inner_text()
    shoot(boss, "loop-01-supervisor-home")

    desk_context, refused = phone_context(chromium)
    desk = desk_context.new_page()
    sign_in(desk, url, "coordinator")
    link = desk.locator(f"a[href='{order.get_absolute_url()}']").first
    assert "Widen the search" in link.inner_text()
    no_sideways_scroll(desk)
    assert a11y_problems(desk) == []
    shoot(desk, "loop-02-coordinator-desk-phone")
    with desk.expect_navigation():
        link.click()
    desk.fill("#id_answer", "Two teams on the canal banks; the family was called at 14:10.")
    desk.select_option("#id_action", "area_widened")
    with desk.expect_navigation():
        desk.click("#answer-form button[type=submit]")
    assert desk.locator("#order-status").inner_text() == "Answered"
    no_sideways_scroll(desk)
    shoot(desk, "loop-03-order-answered-phone")
    assert refused == [], refused

    boss.goto(f"{url}{order.get_absolute_url()}")
    assert "Two teams on the canal banks" in boss.content()
    with boss.expect_navigation():
        boss.click("text=Satisfied: close the order")
    assert boss.locator("#order-status").inner_text() == "Satisfied"
    order.refresh_from_db()
    assert order.status == OrderStatus.SATISFIED

    boss.goto(f"{url}/")
    # The supervisor's desk: nothing issued is still open, and the month so far in figures.
    assert order.get_absolute_url() not in boss.content()
    assert "50%" in boss.locator("#supervisor-headline").inner_text()
    with boss.expect_navigation():
        boss.click("text=Open the supervision dashboard")
    recovery = boss.locator("[data-figure=recovery_rate] .stat-value").inner_text()
    assert recovery == "50%", recovery
    shoot(boss, "loop-04-dashboard")
    boss_context.close()

    for username, name in [
        ("clerk", "loop-05-clerk-home"),
        ("counsellor", "loop-06-counsellor-home"),
    ]:
        context = desktop(chromium)
        page = context.new_page()
        sign_in(page, url, username)
        assert "Zhang Wei" in page.content()
        shoot(page, name)
        context.close()
    desk_context.close()
