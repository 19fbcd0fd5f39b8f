"""A field member on a 360 px phone: accept, report with a photo, lose the network, come back."""

import io

import pytest
from PIL import Image

from search.models import Sighting
from search.services import areas
from tests.browser.conftest import a11y_problems, phone_context
from tests.factories import UserFactory
from tests.helpers import wait_for
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests"


def sign_in(page, base: str, username: str, then: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    page.goto(f"{base}{then}")


def photo_file(tmp_path) -> str:
    path = tmp_path / "phone.jpg"
    out = io.BytesIO()
    Image.new("RGB", (120, 90), "red").save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return str(path)


def counts(case) -> tuple[int, int]:
    return (
        Sighting.objects.filter(case=case, kind="sighting").count(),
        Sighting.objects.filter(case=case, kind="clue").count(),
    )


def test_accept_report_go_offline_report_come_back_exactly_once(
    live_server, chromium, shoot, tmp_path
):
    world = build_world()
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    member = UserFactory(username="walker", organisation=world.city, roles=["field"])
    world.near.members.add(member)
    context, field_refused = phone_context(chromium)
    page = context.new_page()
    base = live_server.url

    sign_in(page, base, "walker", "/field/")
    cards = page.locator("#task-list .card")
    assert cards.count() == 2
    assert page.locator(".countdown").first.inner_text().count(":") == 1  # live countdown
    shoot(page, "field-01-my-tasks")
    assert a11y_problems(page) == []

    with page.expect_navigation():
        cards.first.locator("a").click()
    assert page.locator("#task-status").inner_text() == "Offered"
    shoot(page, "field-02-offer")
    assert a11y_problems(page) == []
    with page.expect_navigation():  # the page reloads once the server has the action
        page.click("form[data-queue] button.big")
    assert page.locator("#task-status").inner_text() == "Accepted"
    page.locator("details summary").last.click()  # open "Person found" too, to check it
    assert a11y_problems(page) == []

    lon, lat = LAST_SEEN
    page.select_option("#report-kind", "sighting")
    page.fill("#report-description", "Boy in a red coat at the bus stop")
    page.fill("#report-lat", str(lat))
    page.fill("#report-lon", str(lon))
    page.set_input_files("#report-photo", photo_file(tmp_path))
    shoot(page, "field-03-report")
    with page.expect_navigation():
        page.click("form.report button[type=submit]")
    assert counts(case) == (1, 0)
    assert Sighting.objects.get(kind="sighting").photo

    context.set_offline(True)
    page.select_option("#report-kind", "clue")
    page.fill("#report-description", "A blue glove on the bridge")
    page.fill("#report-lat", str(lat + 0.001))
    page.fill("#report-lon", str(lon))
    page.click("form.report button[type=submit]")
    pending = page.locator("#outbox-list li.pending")
    pending.first.wait_for()
    assert "waiting to send" in pending.first.inner_text()
    assert page.locator("#net-status").is_visible()
    shoot(page, "field-04-offline-waiting")
    assert counts(case) == (1, 0)

    context.set_offline(False)  # the page replays its outbox when the connection returns
    wait_for(lambda: counts(case) == (1, 1), timeout=60)
    page.wait_for_load_state()
    page.evaluate("window.beaconField && window.beaconField.flush()")  # a second replay: no-op
    assert counts(case) == (1, 1)

    coordinator_context, refused = phone_context(chromium)
    coordinator = coordinator_context.new_page()
    world.clerk.set_password(PASSWORD)
    world.clerk.save()
    sign_in(coordinator, base, world.clerk.username, f"/cases/{case.pk}/map/")
    text = coordinator.locator("body").inner_text()
    assert "Boy in a red coat" in text and "A blue glove" in text
    shoot(coordinator, "field-05-coordinator-sees-reports")
    context.close()
    coordinator_context.close()
    assert field_refused + refused == [], field_refused + refused


def test_the_accessibility_check_itself_finds_problems(phone):
    phone.set_content(
        "<input id='bare'><button style='height:20px'>tiny</button>"
        "<button style='height:50px;color:#999;background:#aaa'>grey</button>"
        "<label for='ok'>Named</label><input id='ok' style='height:48px'>"
    )

    problems = a11y_problems(phone)

    assert "no label: bare" in problems
    assert "small target: tiny" in problems
    assert any(p.startswith("low contrast") and p.endswith("grey") for p in problems)
    assert not any(p.endswith(": ok") for p in problems)
