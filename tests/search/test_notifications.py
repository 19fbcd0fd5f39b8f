"""A unit learns of a new offer: its task list (what the phone polls) and e-mail if it asked."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from search.models import Task
from search.services import areas
from search.tasks import offers_notify
from tests.factories import UserFactory
from tests.search.dispatch_world import build_world, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched():
    world = build_world()
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    return world, case


def test_a_member_sees_only_their_units_open_tasks(dispatched):
    world, case = dispatched
    member = UserFactory(organisation=world.city, roles=["field"])
    world.near.members.add(member)
    api = APIClient()
    api.force_authenticate(member)

    body = api.get("/api/v1/my/tasks/").json()

    assert body["count"] == 2
    assert {t["unit"] for t in body["results"]} == {"near"}
    assert all(t["status"] == "offered" for t in body["results"])


def test_someone_in_no_unit_sees_nothing(dispatched):
    api = APIClient()
    api.force_authenticate(UserFactory(roles=["field"]))

    assert api.get("/api/v1/my/tasks/").json()["count"] == 0


def test_units_with_an_address_get_one_email_for_their_offers(dispatched, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    world, case = dispatched
    world.near.notify_email = "near@example.org"
    world.near.save(update_fields=["notify_email"])

    offers_notify(list(Task.objects.filter(case=case).values_list("pk", flat=True)))

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["near@example.org"]
    assert "2 new search offer" in message.subject
    assert case.reference in message.body
