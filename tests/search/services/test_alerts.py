"""Coordinator alerts: raised once where asked, acknowledged only on their own case."""

import pytest

from search.choices import AlertKind
from search.models import Alert
from search.services.alerts import alert_acknowledge, alert_raise
from tests.factories import CaseFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    return CaseFactory()


def test_an_alert_is_raised_on_its_case(case):
    alert = alert_raise(case=case, kind=AlertKind.NO_UNITS, message="Nobody free")

    assert alert is not None
    assert Alert.objects.get() == alert
    assert alert.case == case and alert.message == "Nobody free"
    assert alert.acknowledged_at is None


def test_without_a_once_rule_every_alert_is_raised(case):
    alert_raise(case=case, kind=AlertKind.SIGHTING, message="Seen at the bridge")
    alert_raise(case=case, kind=AlertKind.SIGHTING, message="Seen at the bridge")

    assert Alert.objects.filter(case=case).count() == 2


def test_once_while_open_holds_back_a_second_alert_until_the_first_is_acknowledged(case):
    first = alert_raise(
        case=case, kind=AlertKind.NO_UNITS, message="Nobody free", once_while_open=True
    )

    held = alert_raise(
        case=case, kind=AlertKind.NO_UNITS, message="Still nobody", once_while_open=True
    )

    assert held is None
    assert list(Alert.objects.filter(case=case)) == [first]

    assert alert_acknowledge(case=case, alert_id=first.pk) is True
    again = alert_raise(
        case=case, kind=AlertKind.NO_UNITS, message="Still nobody", once_while_open=True
    )

    assert again is not None and again.pk != first.pk
    assert Alert.objects.filter(case=case, acknowledged_at__isnull=True).get() == again


def test_once_while_open_looks_only_at_the_same_kind_on_the_same_case(case):
    alert_raise(case=case, kind=AlertKind.NO_UNITS, message="Nobody free", once_while_open=True)
    other_case = CaseFactory(organisation=case.organisation)

    other_kind = alert_raise(
        case=case, kind=AlertKind.TASK_STALE, message="Quiet task", once_while_open=True
    )
    same_kind_elsewhere = alert_raise(
        case=other_case, kind=AlertKind.NO_UNITS, message="Nobody free", once_while_open=True
    )

    assert other_kind is not None and same_kind_elsewhere is not None
    assert Alert.objects.count() == 3


def test_once_with_holds_back_any_second_alert_holding_the_text(case):
    first = alert_raise(
        case=case,
        kind=AlertKind.AID_PROPOSED,
        message="The search area reaches Partner B [PB]: ask for mutual aid.",
        once_with="[PB]",
    )

    held = alert_raise(
        case=case,
        kind=AlertKind.AID_PROPOSED,
        message="The search area reaches Partner B [PB] again.",
        once_with="[PB]",
    )
    other_partner = alert_raise(
        case=case,
        kind=AlertKind.AID_PROPOSED,
        message="The search area reaches Partner C [PC].",
        once_with="[PC]",
    )

    assert first is not None and held is None and other_partner is not None
    assert Alert.objects.filter(case=case, message__contains="[PB]").count() == 1


def test_once_with_holds_back_even_after_acknowledgement(case):
    first = alert_raise(
        case=case, kind=AlertKind.AID_PROPOSED, message="reaches [PB]", once_with="[PB]"
    )
    alert_acknowledge(case=case, alert_id=first.pk)

    again = alert_raise(
        case=case, kind=AlertKind.AID_PROPOSED, message="reaches [PB]", once_with="[PB]"
    )

    assert again is None
    assert Alert.objects.count() == 1


def test_acknowledging_marks_only_that_alert(case):
    seen = alert_raise(case=case, kind=AlertKind.NO_UNITS, message="one")
    unseen = alert_raise(case=case, kind=AlertKind.NO_UNITS, message="two")

    assert alert_acknowledge(case=case, alert_id=seen.pk) is True

    seen.refresh_from_db()
    unseen.refresh_from_db()
    assert seen.acknowledged_at is not None
    assert unseen.acknowledged_at is None


def test_acknowledging_twice_is_false_the_second_time(case):
    alert = alert_raise(case=case, kind=AlertKind.NO_UNITS, message="one")
    alert_acknowledge(case=case, alert_id=alert.pk)
    alert.refresh_from_db()
    first_seen = alert.acknowledged_at

    assert alert_acknowledge(case=case, alert_id=alert.pk) is False

    alert.refresh_from_db()
    assert alert.acknowledged_at == first_seen


def test_another_cases_alert_cannot_be_acknowledged_through_this_case(case):
    elsewhere = CaseFactory(organisation=OrganisationFactory())
    theirs = alert_raise(case=elsewhere, kind=AlertKind.NO_UNITS, message="theirs")

    assert alert_acknowledge(case=case, alert_id=theirs.pk) is False

    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None
    assert alert_acknowledge(case=case, alert_id=10**9) is False
