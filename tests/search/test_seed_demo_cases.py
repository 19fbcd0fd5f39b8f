"""The demo cases: filed once through the services, with an order for the coordinator."""

import pytest
from django.core.management import call_command

from search.models import Case, CaseEvent, PublicAlert, SupervisionOrder

pytestmark = pytest.mark.django_db


def test_demo_cases_are_filed_once_through_the_services(demo_world):
    call_command("seed_demo_cases", allow_production=True, verbosity=0)
    assert Case.objects.open().count() == 4
    assert sorted(Case.objects.exclude(outcome="").values_list("outcome", flat=True)) == [
        "found_well",
        "not_found",
        "returned",
        "withdrawn",
    ]
    # Each case has its timeline from the services, not rows written around them.
    assert CaseEvent.objects.filter(kind="created").count() == 8
    order = SupervisionOrder.objects.get()
    assert order.addressee_user.username == "coordinator"
    # One public alert, so a newcomer sees the feed and the public page at once.
    alert = PublicAlert.objects.active().get()
    assert alert.content["name"] == "小明" and alert.messages.get().msg_type == "Alert"
    call_command("seed_demo_cases", allow_production=True, verbosity=0)
    assert Case.objects.count() == 8 and SupervisionOrder.objects.count() == 1
    assert PublicAlert.objects.count() == 1


def test_demo_cases_refuse_with_debug_off(demo_world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("seed_demo_cases", verbosity=0)
    assert not Case.objects.exists()
