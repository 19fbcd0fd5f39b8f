"""Admin pages exist for every domain model and are for staff only."""

import pytest

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "accounts/user",
    "accounts/organisation",
    "accounts/unit",
    "accounts/partner",
    "search/case",
]


@pytest.mark.parametrize("model", ADMIN_PAGES)
def test_admin_list_and_add_pages_render_for_a_superuser(admin_client, demo_world, model):
    assert admin_client.get(f"/admin/{model}/").status_code == 200
    assert admin_client.get(f"/admin/{model}/add/").status_code == 200


def test_admin_change_page_of_a_unit_renders_its_map(admin_client, demo_world):
    from accounts.models import Unit

    unit = Unit.objects.first()

    response = admin_client.get(f"/admin/accounts/unit/{unit.pk}/change/")

    assert response.status_code == 200
    assert b"home_area" in response.content


def test_admin_refuses_a_signed_in_clerk(client, demo_world):
    client.login(username="clerk", password="beacon-clerk")

    response = client.get("/admin/accounts/unit/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
