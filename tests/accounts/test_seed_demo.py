"""seed_demo builds the demo world once, and every demo user can sign in."""

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command

from accounts import demo
from accounts.models import Organisation, Partner, Unit, User
from search.geo import SRID

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        "organisations": Organisation.objects.count(),
        "units": Unit.objects.count(),
        "users": User.objects.count(),
        "partners": Partner.objects.count(),
        "memberships": Unit.members.through.objects.count(),
    }


def snapshot() -> list[tuple]:
    return list(
        Unit.objects.order_by("pk").values_list("pk", "name", "last_position", "last_position_at")
    )


def test_seed_demo_twice_gives_the_same_world(demo_world):
    first_counts, first_units = counts(), snapshot()
    passwords = dict(User.objects.values_list("username", "password"))

    call_command("seed_demo", allow_production=True)

    assert counts() == first_counts
    assert snapshot() == first_units
    assert dict(User.objects.values_list("username", "password")) == passwords
    assert first_counts["units"] == 2 * demo.UNITS_PER_COUNTY
    assert first_counts["organisations"] == 4
    assert first_counts["partners"] == 1


def test_seeded_units_sit_inside_their_county_and_their_home_area(demo_world):
    for unit in Unit.objects.select_related("organisation"):
        position = Point(unit.last_position.x, unit.last_position.y, srid=SRID)
        assert unit.organisation.jurisdiction.covers(unit.home_area), unit.name
        assert unit.home_area.buffer(0.02).contains(position), unit.name


def test_counties_belong_to_the_city_and_the_partner_is_next_door(demo_world):
    city = Organisation.objects.get(code=demo.CITY.code)
    partner = Partner.objects.select_related("organisation").get()

    assert sorted(c.code for c in city.children.all()) == sorted(a.code for a in demo.COUNTIES)
    assert partner.region.touches(city.jurisdiction)
    assert not partner.region.overlaps(city.jurisdiction)


@pytest.mark.parametrize("username", [*demo.DEMO_USERS, demo.DEMO_ADMIN[0]])
def test_every_demo_user_can_sign_in_through_the_login_page(client, username, demo_world):
    password = demo.DEMO_USERS[username][1] if username in demo.DEMO_USERS else demo.DEMO_ADMIN[1]

    response = client.post("/accounts/login/", {"username": username, "password": password})

    assert response.status_code == 302, response.content[:500]
    # A field member lands on the field app, everyone else on their desk.
    home = client.get("/", follow=True)
    assert home.status_code == 200
    if username in demo.DEMO_USERS:
        role = demo.DEMO_USERS[username][0]
        assert User.objects.get(username=username).has_role(role)
        assert (home.redirect_chain != []) == (role == "field")


def test_the_county_coordinator_works_at_the_county_desk(demo_world):
    for username, code in demo.DEMO_USER_DESKS.items():
        assert User.objects.get(username=username).organisation.code == code
    assert User.objects.get(username="coordinator").organisation.code == demo.CITY.code


def test_wrong_password_is_refused_with_a_message(client, demo_world):

    response = client.post("/accounts/login/", {"username": "clerk", "password": "nope"})

    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert client.get("/").status_code == 302


def test_seed_demo_refuses_to_run_in_production(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")

    assert User.objects.count() == 0
