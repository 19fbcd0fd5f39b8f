"""The public alert page on a 360 px phone, in Chinese and English, with JavaScript and without:
the cleared facts, the QR code and share link, a tip sent by tapping the map or typing
coordinates, a bad tip refused with nothing stored, and no cookie at any point."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from search.models import Sighting
from search.services import public
from search.services.timeline import Origin
from tests.browser.conftest import PHONE, a11y_problems, phone_context
from tests.search.public_world import SECRETS as PLANTED
from tests.search.public_world import child_case, draft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRETS = tuple(PLANTED.values())


@pytest.fixture
def alert(settings, tmp_path):
    # Tip counts live in the cache, shared with every other test run on this Redis database.
    cache.clear()
    settings.PUBLIC_ALERT = {**settings.PUBLIC_ALERT, "TIP_RATE_PER_ADDRESS": "100/m"}
    settings.MEDIA_ROOT = str(tmp_path)
    world = child_case(photo_size=(48, 64))
    coordinator, case = world["coordinator"], world["case"]
    return public.alert_publish(
        origin=Origin(actor=coordinator),
        case=case,
        draft=draft(clothing="红色外套 Red jacket", place="云龙区 湖边 Yunlong, by the lake"),
    )


def _seen_at() -> str:
    return timezone.localtime(timezone.now() - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M")


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} scrolls sideways at 360 px ({width} px)"


def _assert_facts(page) -> None:
    facts = page.locator("dl.facts").inner_text()
    for fact in ("小明", "8", "128", "Red jacket", "Yunlong, by the lake"):
        assert fact in facts, (fact, facts)
    assert "0516-110" in page.locator(".callout").inner_text()
    html = page.content()
    assert "张小明" not in html  # the given name only was cleared
    for secret in SECRETS:
        assert secret not in html


def test_with_javascript_a_tap_on_the_map_sends_a_tip_in_chinese_and_english(
    live_server, chromium, shoot, alert
):
    context, refused = phone_context(chromium)
    page = context.new_page()
    url = f"{live_server.url}{alert.get_absolute_url()}"
    for language, heading, thanks, names in [
        ("zh-hans", "我看到过此人", "谢谢", ("public-01-alert-zh", "public-03-tip-sent-zh")),
        ("en", "I have seen this person", "your tip has reached", ("public-02-alert-en", None)),
    ]:
        Sighting.objects.all().delete()
        page.goto(f"{url}?lang={language}")
        # Leaflet has drawn the map: the script ran, so the tap below reaches a live map.
        page.wait_for_selector("#public-map.leaflet-container")
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("#tip-h").inner_text() == heading
        _assert_facts(page)
        assert page.locator(".qr svg").count() == 1
        assert page.locator(".qr svg").is_visible()
        share = page.input_value("#share-url")
        assert share.endswith(f"{alert.get_absolute_url()}?lang={language}"), share
        assert page.locator("#use-position").is_visible()
        _no_sideways_scroll(page)
        assert a11y_problems(page) == []
        assert context.cookies() == []
        shoot(page, names[0])

        # The centre of the map is the centre of the alert's circle.
        box = page.locator("#public-map").bounding_box()
        page.locator("#public-map").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
        lat, lon = page.input_value("#id_lat"), page.input_value("#id_lon")
        assert lat and lon, "a tap on the map left the coordinates empty"
        assert abs(float(lat) - alert.centre.y) < 0.5 and abs(float(lon) - alert.centre.x) < 0.5
        page.fill("#id_seen_at", _seen_at())
        page.fill("#id_description", "一个穿红外套的男孩在公交站 A boy in red at the bus stop")
        with page.expect_navigation():
            page.click("#tip-form button[type=submit]")
        assert thanks in page.locator("#tip-thanks").inner_text()
        assert context.cookies() == []
        _no_sideways_scroll(page)
        if names[1]:
            shoot(page, names[1])

        tip = Sighting.objects.get()
        assert tip.public_alert_id == alert.pk and tip.confirmed_at is None
        assert tip.point is not None
        assert abs(tip.point.y - float(lat)) < 1e-4 and abs(tip.point.x - float(lon)) < 1e-4
        assert "bus stop" in tip.description
    context.close()
    assert refused == [], refused


def test_without_javascript_typed_coordinates_send_a_tip_and_a_bad_one_is_refused(
    live_server, chromium, shoot, alert
):
    context = chromium.new_context(viewport=PHONE, locale="en-US", java_script_enabled=False)
    context.set_default_timeout(30_000)
    page = context.new_page()
    url = f"{live_server.url}{alert.get_absolute_url()}?lang=en"
    page.goto(url)
    assert page.locator("#tip-h").inner_text() == "I have seen this person"
    _assert_facts(page)
    assert page.locator(".qr svg").is_visible()
    assert page.locator("#tip-form").is_visible()
    # Without the script, the position button has nothing to do: it stays hidden.
    assert page.locator("#use-position").is_hidden()
    assert page.locator("#public-map.leaflet-container").count() == 0
    assert page.locator("#id_lat").is_hidden()  # folded in the coordinates <details>
    _no_sideways_scroll(page)
    assert a11y_problems(page) == []
    assert context.cookies() == []
    shoot(page, "public-04-no-js-en")

    def send(latitude: str, longitude: str, what: str) -> None:
        if not page.locator("#id_lat").is_visible():
            page.click("details.coords summary")
        page.fill("#id_lat", latitude)
        page.fill("#id_lon", longitude)
        page.fill("#id_seen_at", _seen_at())
        page.fill("#id_description", what)
        with page.expect_navigation():
            page.click("#tip-form button[type=submit]")

    send("95", "117.19", "Someone like him near the station")
    assert page.locator("#tip-refusal").inner_text() == "Please check the form."
    assert "latitude must be between -90 and 90" in page.locator("details.coords").inner_text()
    # The form comes back as it was sent, its coordinates open at the error.
    assert page.locator("#id_lat").is_visible()
    assert page.input_value("#id_description") == "Someone like him near the station"
    assert page.locator("#tip-thanks").count() == 0
    assert not Sighting.objects.exists()
    assert context.cookies() == []
    shoot(page, "public-05-tip-error-en")

    send("34.26", "117.19", "A boy in a red jacket at the bus stop")
    assert "your tip has reached" in page.locator("#tip-thanks").inner_text()
    assert page.locator("#tip-refusal").count() == 0
    tip = Sighting.objects.get()
    assert tip.public_alert_id == alert.pk
    assert (round(tip.point.y, 2), round(tip.point.x, 2)) == (34.26, 117.19)
    assert context.cookies() == []
    context.close()
