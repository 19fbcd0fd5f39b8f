"""The timeline is append-only and hash-chained; verify_timeline finds the first broken link."""

import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import IntegrityError

from search.models import CaseEvent
from search.services import intake
from search.services.timeline import Origin, timeline_first_break
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(clerk, coordinator):
    case = intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(service_values()))
    for note in ("a", "b", "c"):
        case = intake.case_update(
            origin=Origin(actor=coordinator),
            case=case,
            data=intake.CaseInput(values={"circumstances": note}),
            expected_version=case.version,
        )
    return case


def tamper(sql: str, params) -> None:
    """Change the table as a superuser could, with triggers switched off for the session."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = DEFAULT")


def test_events_chain_each_to_the_one_before(case):
    events = list(case.events.order_by("seq"))

    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert timeline_first_break(case) is None


def test_verify_timeline_passes_on_an_untouched_timeline(case, capsys):
    call_command("verify_timeline")
    call_command("verify_timeline", "--case", case.reference)

    assert "timeline intact for 1 case(s)" in capsys.readouterr().out


def test_verify_timeline_reports_an_event_changed_in_the_database(case):
    third = case.events.get(seq=3)
    tamper(
        "UPDATE search_caseevent SET data = %s WHERE id = %s",
        ['{"changes": {"circumstances": {"old": "a", "new": "forged"}}}', third.pk],
    )

    with pytest.raises(CommandError, match=rf"{case.reference}: event #3: content does not match"):
        call_command("verify_timeline")


def test_verify_timeline_reports_a_deleted_event(case):
    tamper("DELETE FROM search_caseevent WHERE case_id = %s AND seq = 2", [case.pk])

    with pytest.raises(CommandError, match="event #2: event missing"):
        call_command("verify_timeline", "--case", case.reference)


def test_verify_timeline_reports_a_rehashed_forgery_by_its_broken_link(case):
    second = case.events.get(seq=2)
    second.data = {"forged": True}
    forged_hash = second.compute_hash()
    tamper(
        "UPDATE search_caseevent SET data = %s, hash = %s WHERE id = %s",
        ['{"forged": true}', forged_hash, second.pk],
    )

    with pytest.raises(CommandError, match="event #3: link to the previous event is broken"):
        call_command("verify_timeline")


def test_the_database_refuses_to_update_or_delete_an_event(case):
    event = case.events.first()

    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CaseEvent.objects.filter(pk=event.pk).update(kind="edited")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CaseEvent.objects.filter(pk=event.pk).delete()


def test_verify_timeline_for_an_unknown_case_fails_clearly(case):
    with pytest.raises(CommandError, match="no case with reference XX-1"):
        call_command("verify_timeline", "--case", "XX-1")
