"""Who sees which cases and which parts of them; every role and an outsider."""

import pytest

from accounts.models import Organisation
from search.models import CaseEvent
from search.services import intake
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def county_case(demo_world):
    """A case filed by a clerk of 东山县, a county under the demo city."""
    county = Organisation.objects.get(code="DSX")
    county_clerk = UserFactory(organisation=county, roles=["clerk"])
    return intake.case_open(
        origin=Origin(actor=county_clerk),
        data=intake.CaseInput(
            values=service_values(
                medical_needs="insulin-dependent diabetes",
                self_harm_risk=True,
            )
        ),
    )


def login(client, username):
    from accounts.models import User

    client.force_login(User.objects.get(username=username))


@pytest.mark.parametrize("username", ["clerk", "coordinator", "supervisor"])
def test_city_roles_see_their_counties_cases(client, county_case, username):
    login(client, username)

    assert client.get(f"/cases/{county_case.pk}/").status_code == 200
    assert county_case.reference in client.get("/cases/").content.decode()


def test_a_county_clerk_does_not_see_the_other_county(client, county_case):
    other = UserFactory(organisation=Organisation.objects.get(code="XSX"), roles=["clerk"])
    client.force_login(other)

    assert client.get(f"/cases/{county_case.pk}/").status_code == 404
    assert county_case.reference not in client.get("/cases/").content.decode()


def test_an_outsider_from_another_city_gets_404(client, county_case):
    client.force_login(UserFactory(roles=["clerk", "coordinator", "supervisor"]))

    assert client.get(f"/cases/{county_case.pk}/").status_code == 404
    assert client.get(f"/cases/{county_case.pk}/edit/").status_code == 404
    assert client.post(f"/cases/{county_case.pk}/reveal/").status_code == 404


@pytest.mark.parametrize("path", ["/cases/", "/cases/new/"])
def test_field_members_are_refused_the_case_desk(client, demo_world, path):
    login(client, "field")

    assert client.get(path).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, county_case):
    response = client.get(f"/cases/{county_case.pk}/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_supervisor_sees_the_case_but_not_phone_or_medical_details(client, county_case):
    login(client, "supervisor")

    page = client.get(f"/cases/{county_case.pk}/").content.decode()
    revealed = client.post(f"/cases/{county_case.pk}/reveal/")

    assert "insulin" not in page and "+8613800138000" not in page
    assert revealed.status_code == 403
    assert not CaseEvent.objects.filter(kind="sensitive_viewed").exists()


@pytest.mark.parametrize("username", ["clerk", "coordinator", "counsellor"])
def test_roles_that_need_details_see_them_and_the_view_is_recorded(client, county_case, username):
    login(client, username)
    assert "insulin" not in client.get(f"/cases/{county_case.pk}/").content.decode()

    page = client.post(f"/cases/{county_case.pk}/reveal/").content.decode()

    assert "insulin" in page and "+8613800138000" in page
    event = CaseEvent.objects.get(kind="sensitive_viewed")
    assert event.actor.username == username
    assert event.data == {"parts": ["medical", "reporter"]}


def test_counsellor_sees_only_flagged_cases_and_the_crisis_desk(client, county_case, clerk):
    quiet = intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(service_values()))
    login(client, "counsellor")

    desk = client.get("/crisis/").content.decode()

    assert county_case.reference in desk and quiet.reference not in desk
    assert client.get(f"/cases/{quiet.pk}/").status_code == 404
    assert client.get("/cases/").status_code == 403


def test_counsellor_records_a_contact_attempt(client, county_case):
    login(client, "counsellor")

    response = client.post(
        f"/cases/{county_case.pk}/contact/", {"channel": "phone", "result": "no_answer"}
    )

    assert response.status_code == 302
    assert county_case.crisis_contacts.get().result == "no_answer"
    assert county_case.events.filter(kind="contact_attempt").count() == 1


def test_clerk_cannot_override_priority_or_close(client, county_case):
    login(client, "clerk")

    override = client.post(f"/cases/{county_case.pk}/priority/", {"priority": 3, "reason": "calm"})
    close = client.post(f"/cases/{county_case.pk}/close/", {"outcome": "found_well"})

    assert (override.status_code, close.status_code) == (403, 403)
    county_case.refresh_from_db()
    assert county_case.status == "open" and county_case.priority == 1


def test_coordinator_overrides_priority_with_a_reason(client, county_case):
    login(client, "coordinator")

    empty = client.post(f"/cases/{county_case.pk}/priority/", {"priority": 2, "reason": ""})
    done = client.post(
        f"/cases/{county_case.pk}/priority/", {"priority": 2, "reason": "Seen safe by a neighbour"}
    )

    assert empty.status_code == 400 and done.status_code == 302
    county_case.refresh_from_db()
    assert county_case.priority == 2 and county_case.computed_priority == 1
    assert county_case.events.get(kind="priority_overridden").data["reason"] == (
        "Seen safe by a neighbour"
    )


def test_coordinator_records_outcome_and_closes(client, county_case):
    login(client, "coordinator")

    client.post(f"/cases/{county_case.pk}/close/", {"outcome": "found_well", "note": "At home"})

    county_case.refresh_from_db()
    assert (county_case.status, county_case.outcome) == ("closed", "found_well")
    assert client.get(f"/cases/{county_case.pk}/edit/").status_code == 403
    again = client.post(f"/cases/{county_case.pk}/close/", {"outcome": "found_well"})
    assert again.status_code == 400
    assert county_case.events.filter(kind="outcome_recorded").count() == 1


def test_clerk_withdraws_a_report_with_a_reason(client, county_case):
    login(client, "clerk")

    client.post(f"/cases/{county_case.pk}/withdraw/", {"reason": "Child was at a friend's"})

    county_case.refresh_from_db()
    assert (county_case.status, county_case.outcome) == ("closed", "withdrawn")
    assert county_case.events.filter(kind="withdrawn").count() == 1


def test_actions_refuse_get(client, county_case):
    login(client, "coordinator")

    for action in ("priority", "withdraw", "close", "reveal", "contact"):
        assert client.get(f"/cases/{county_case.pk}/{action}/").status_code == 405
