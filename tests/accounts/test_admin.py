"""Admin pages exist for every domain model and are for staff only."""

import pytest

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "accounts/user",
    "accounts/organisation",
    "accounts/unit",
    "accounts/partner",
    "search/case",
    "search/subjectprofile",
    "search/task",
    "search/alert",
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
    from accounts.models import User

    client.force_login(User.objects.get(username="clerk"))

    response = client.get("/admin/accounts/unit/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"p25_m": 500, "p50_m": 400, "p75_m": 600, "p95_m": 800, "speed_kmh": 2},
            "Distances must increase",
        ),
        (
            {"p25_m": 100, "p50_m": 200, "p75_m": 300, "p95_m": 400, "speed_kmh": -2},
            "speed must be above zero",
        ),
    ],
)
def test_admin_refuses_a_bad_subject_profile_with_a_clear_message(admin_client, values, message):
    from search.models import SubjectProfile

    before = SubjectProfile.objects.count()
    SubjectProfile.objects.filter(category="other", terrain="rural").delete()

    response = admin_client.post(
        "/admin/search/subjectprofile/add/",
        {"category": "other", "terrain": "rural", "source": "local survey", **values},
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert SubjectProfile.objects.count() == before - 1
