"""A coordinator publishes a public alert from a phone-sized page, and a tip sent meanwhile shows
on the open search map without a reload."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from search.models import PublicAlert, SubjectProfile
from search.services import areas, intake, public
from search.services.timeline import Origin
from tests.browser.conftest import a11y_problems
from tests.browser.test_supervision import no_sideways_scroll, sign_in
from tests.search.dispatch_world import PROFILE
from tests.search.intake_data import service_values

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIP_PHONE = "+86 139 0000 7788"


def test_publish_then_a_tip_shows_on_the_open_map(live_server, phone, shoot):
    call_command("seed_demo", allow_production=True, verbosity=0)
    case = intake.case_open(
        origin=Origin(actor=User.objects.get(username="clerk")),
        data=intake.CaseInput(service_values(subject_name="Zhang Wei", clothing="Blue jacket")),
    )
    # An earlier transactional test may have flushed the profiles the migrations seed.
    SubjectProfile.objects.get_or_create(
        category=case.category, terrain=case.terrain, defaults={**PROFILE, "source": "test"}
    )
    areas.dispatch_case(case_id=case.pk)
    url = live_server.url
    sign_in(phone, url, "coordinator")

    phone.goto(f"{url}/cases/{case.pk}/alert/")
    assert phone.locator("#id_clothing").input_value() == "Blue jacket"
    phone.check("#id_clear_clothing")
    phone.check("#id_clear_place")
    phone.fill("#id_place", "Gulou district, by the bell tower")
    no_sideways_scroll(phone)
    assert a11y_problems(phone) == []
    with phone.expect_navigation():
        phone.click("button[name=preview]")
    assert "Gulou district" in phone.inner_text("article")
    no_sideways_scroll(phone)
    shoot(phone, "alert-01-preview")
    with phone.expect_navigation():
        phone.click("button[name=publish]")
    alert = PublicAlert.objects.get(case=case)
    assert alert.content["place"] == "Gulou district, by the bell tower"
    assert "Public alert" in phone.inner_text("main")

    phone.goto(f"{url}/cases/{case.pk}/map/")
    assert "No tips waiting." in phone.inner_text("#tips-list")
    public.tip_record(
        alert=alert,
        tip=public.TipInput(
            seen_at=timezone.now() - timedelta(minutes=5),
            point=case.last_seen_point,
            description="A man in a blue jacket at the bus stop",
            phone=TIP_PHONE,
        ),
    )
    # The map polls every 10 s: the tip arrives without a reload.
    phone.locator("#tips-list li", has_text="at the bus stop").wait_for(timeout=25_000)
    assert TIP_PHONE in phone.inner_text("#tips-list")
    shoot(phone, "alert-02-tip-on-the-map")
    with phone.expect_navigation():
        phone.click("#tips-list button[type=submit]")
    assert case.areas.get(is_current=True).reason == "sighting"
