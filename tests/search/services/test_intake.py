"""Intake: the service itself holds the report's rules (no form, no serializer in between)."""

from datetime import date, timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from search.choices import CaseStatus, EventKind, Priority
from search.geo import SRID
from search.models import Case, CaseEvent, CaseReferenceCounter
from search.services import intake
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world

pytestmark = pytest.mark.django_db

# No organisation's jurisdiction comes near: the middle of the Indian Ocean.
NOWHERE = Point(80.0, -20.0, srid=SRID)


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def clerk(world):
    return UserFactory(organisation=world.city, roles=["clerk"])


def report(**overrides) -> dict:
    values = {
        "subject_name": "测试",
        "sex": "female",
        "category": "adult",
        "estimated_age": 40,
        "weather_exposure": "none",
        "last_seen_at": timezone.now() - timedelta(hours=2),
        "last_seen_point": Point(*LAST_SEEN, srid=SRID),
        "location_source": "pin",
        "reporter_name": "r",
        "reporter_phone": "+8613800138000",
        "report_channel": "other",
    }
    values.update(overrides)
    return values


def file(user, confirmed_outside: bool = False, **overrides) -> Case:
    return intake.case_open(
        origin=Origin(actor=user),
        data=intake.CaseInput(report(**overrides), confirmed_outside=confirmed_outside),
    )


def edit(user, case: Case, confirmed_outside: bool = False, **values) -> Case:
    return intake.case_update(
        origin=Origin(actor=user),
        case=case,
        data=intake.CaseInput(values, confirmed_outside=confirmed_outside),
        expected_version=case.version,
    )


def nothing_stored() -> bool:
    return not (
        Case.objects.exists() or CaseEvent.objects.exists() or CaseReferenceCounter.objects.exists()
    )


# --- Opening ---------------------------------------------------------------------------------


def test_a_clerk_opens_a_case_with_its_reference_first_event_and_priority(clerk):
    case = file(clerk, category="young_child", estimated_age=5)

    year = timezone.localdate().year
    assert case.reference == f"TC-{year}-000001"
    assert case.organisation == clerk.organisation
    assert case.created_by == clerk
    assert case.status == CaseStatus.OPEN
    # A young child is always critical, whatever the sum says; the reasons say so.
    assert case.priority == case.computed_priority == Priority.CRITICAL
    assert {"code": "rule_young_child"} in case.priority_reasons
    (event,) = CaseEvent.objects.filter(case=case)
    assert event.seq == 1 and event.kind == EventKind.CREATED and event.actor == clerk
    assert event.data["reference"] == case.reference
    assert event.data["priority"] == Priority.CRITICAL


def test_a_second_report_takes_the_next_reference(clerk):
    first = file(clerk)
    second = file(clerk)

    assert first.reference.endswith("-000001")
    assert second.reference.endswith("-000002")
    # An adult with nothing urgent about them is not raised above normal.
    assert second.priority == Priority.NORMAL


@pytest.mark.parametrize("role", ["field", "counsellor", "supervisor"])
def test_a_user_without_the_clerk_or_coordinator_role_is_refused(world, role):
    outsider = UserFactory(organisation=world.city, roles=[role])

    with pytest.raises(PermissionDenied):
        file(outsider)

    assert nothing_stored()


def test_a_clerk_without_an_organisation_is_refused(world):
    stray = UserFactory(organisation=None, roles=["clerk"])

    with pytest.raises(PermissionDenied):
        file(stray)

    assert nothing_stored()


@pytest.mark.parametrize("age", [0, 30])
def test_a_birth_date_and_an_estimated_age_together_are_refused_and_nothing_is_stored(clerk, age):
    # Age 0 is an age too: "not both" must not read it as missing.
    with pytest.raises(ValidationError) as refused:
        file(clerk, date_of_birth=date(2000, 1, 1), estimated_age=age)

    assert "estimated_age" in refused.value.message_dict
    assert nothing_stored()


def test_a_birth_date_alone_is_enough(clerk):
    case = file(clerk, date_of_birth=date(2019, 5, 1), estimated_age=None)

    assert case.date_of_birth == date(2019, 5, 1) and case.estimated_age is None


def test_a_point_outside_every_jurisdiction_is_refused_until_confirmed(clerk):
    with pytest.raises(ValidationError) as refused:
        file(clerk, last_seen_point=NOWHERE)

    assert "last_seen_point" in refused.value.message_dict
    assert nothing_stored()

    case = file(clerk, last_seen_point=NOWHERE, confirmed_outside=True)

    case.refresh_from_db()
    assert case.last_seen_point.coords == pytest.approx(NOWHERE.coords)
    assert CaseEvent.objects.filter(case=case, kind=EventKind.CREATED).count() == 1


def test_a_point_in_a_partners_jurisdiction_needs_no_confirming(clerk):
    from tests.search.federation.conftest import make_partner

    make_partner("PB", 34.65)

    case = file(clerk, last_seen_point=Point(117.3, 34.7, srid=SRID))

    assert case.pk is not None


# --- Editing ---------------------------------------------------------------------------------


def test_an_edit_adding_an_age_to_a_case_with_a_birth_date_is_refused(clerk):
    case = file(clerk, date_of_birth=date(2000, 1, 1), estimated_age=None)

    with pytest.raises(ValidationError) as refused:
        edit(clerk, case, estimated_age=30)

    assert "estimated_age" in refused.value.message_dict
    case.refresh_from_db()
    assert case.estimated_age is None and case.version == 1
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.EDITED).exists()


def test_an_edit_adding_a_birth_date_to_a_case_with_an_age_is_refused(clerk):
    case = file(clerk, estimated_age=40)

    with pytest.raises(ValidationError) as refused:
        edit(clerk, case, date_of_birth=date(1985, 3, 1))

    assert "estimated_age" in refused.value.message_dict
    case.refresh_from_db()
    assert case.date_of_birth is None and case.version == 1


def test_an_edit_swapping_the_age_for_a_birth_date_is_saved(clerk):
    case = file(clerk, estimated_age=40)

    case = edit(clerk, case, date_of_birth=date(1985, 3, 1), estimated_age=None)

    assert case.date_of_birth == date(1985, 3, 1) and case.estimated_age is None
    assert case.version == 2
    event = CaseEvent.objects.get(case=case, kind=EventKind.EDITED)
    assert set(event.data["changes"]) == {"date_of_birth", "estimated_age"}


def test_an_edit_moving_the_point_outside_every_jurisdiction_needs_confirming(clerk):
    case = file(clerk)

    with pytest.raises(ValidationError) as refused:
        edit(clerk, case, last_seen_point=NOWHERE)

    assert "last_seen_point" in refused.value.message_dict
    case.refresh_from_db()
    assert case.last_seen_point.coords == pytest.approx(LAST_SEEN)
    assert case.version == 1

    case = edit(clerk, case, last_seen_point=NOWHERE, confirmed_outside=True)

    assert case.last_seen_point.coords == pytest.approx(NOWHERE.coords)
    assert case.version == 2
    event = CaseEvent.objects.get(case=case, kind=EventKind.EDITED)
    assert event.data["changes"]["last_seen_point"]["new"] == [80.0, -20.0]


def test_an_edit_of_a_case_confirmed_outside_does_not_ask_again(clerk):
    case = file(clerk, last_seen_point=NOWHERE, confirmed_outside=True)

    # The point comes back unchanged with the rest of the form: nothing new to confirm.
    case = edit(clerk, case, last_seen_point=NOWHERE, clothing="green coat")

    assert case.clothing == "green coat" and case.version == 2


def test_a_field_member_cannot_edit(world, clerk):
    case = file(clerk)
    member = UserFactory(organisation=world.city, roles=["field"])

    with pytest.raises(PermissionDenied):
        edit(member, case, clothing="green coat")

    case.refresh_from_db()
    assert case.clothing == "" and case.version == 1


@pytest.mark.parametrize("missing", ["last_seen_at", "last_seen_point"])
def test_a_report_without_when_or_where_is_refused_as_that_field(clerk, missing):
    values = report()
    del values[missing]

    with pytest.raises(ValidationError) as refused:
        intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(values))

    assert missing in refused.value.message_dict
    assert nothing_stored()
