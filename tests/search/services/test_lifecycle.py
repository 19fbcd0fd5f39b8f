"""Lifecycle: the one place a case is opened (case_create) or ended (case_end)."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from search.choices import (
    AidMessageType,
    AidStatus,
    AlertKind,
    CaseStatus,
    EventKind,
    Outcome,
    TaskStatus,
)
from search.geo import SRID
from search.models import Alert, Case, CaseEvent, MutualAidRequest, OutboxMessage, Task
from search.services import areas, lifecycle, queue
from search.services.aid import desk
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case
from tests.search.federation.conftest import make_partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def coordinator(world):
    return UserFactory(organisation=world.city, roles=["coordinator"])


@pytest.fixture
def published(monkeypatch):
    """Record what would be sent to the broker instead of sending it."""
    sent = []
    monkeypatch.setattr(
        queue, "publish", lambda name, *args, countdown=None: sent.append((name, args)) or True
    )
    return sent


def values(**overrides) -> dict:
    base = {
        "subject_name": "测试",
        "sex": "male",
        "category": "adult",
        "estimated_age": 40,
        "last_seen_at": timezone.now() - timedelta(hours=2),
        "last_seen_point": Point(*LAST_SEEN, srid=SRID),
        "location_source": "pin",
        "priority": 2,
        "computed_priority": 2,
    }
    base.update(overrides)
    return base


def dispatched(world) -> Case:
    """Return an active case with offers out to units."""
    case = open_case(world)
    areas.dispatch_case(case_id=case.pk)
    case.refresh_from_db()
    assert case.status == CaseStatus.ACTIVE
    assert Task.objects.open().filter(case=case).exists()
    return case


def kinds(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).order_by("seq").values_list("kind", flat=True))


# --- Opening ---------------------------------------------------------------------------------


def test_case_create_writes_reference_and_created_event_and_queues_dispatch_on_commit(
    world, django_capture_on_commit_callbacks, published
):
    origin = Origin(actor=world.clerk)

    with django_capture_on_commit_callbacks() as callbacks:
        case = lifecycle.case_create(
            origin=origin,
            organisation=world.city,
            values=values(category="dementia", priority=1),
            event_data={"via": "test"},
        )
        # Nothing leaves before the commit.
        assert published == []

    assert case.reference == f"TC-{timezone.localdate().year}-000001"
    assert case.created_by == world.clerk
    (event,) = CaseEvent.objects.filter(case=case)
    assert event.kind == EventKind.CREATED and event.seq == 1
    assert event.data == {
        "reference": case.reference,
        "priority": 1,
        "category": "dementia",
        "via": "test",
    }
    assert len(callbacks) == 1
    callbacks[0]()
    assert published == [(queue.DISPATCH, (case.pk,))]


def test_case_create_refuses_what_the_model_refuses_and_hands_the_number_back(
    world, django_capture_on_commit_callbacks
):
    origin = Origin(actor=world.clerk)

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(ValidationError) as refused,
    ):
        lifecycle.case_create(
            origin=origin, organisation=world.city, values=values(category="alien")
        )

    assert "category" in refused.value.message_dict
    assert callbacks == []
    assert not Case.objects.exists() and not CaseEvent.objects.exists()
    # The rolled-back case took its reference number with it: the next one is the first.
    case = lifecycle.case_create(origin=origin, organisation=world.city, values=values())
    assert case.reference.endswith("-000001")


def test_case_create_leaves_out_only_the_checks_it_is_told_to(world):
    origin = Origin(actor=world.clerk)
    partial = values()
    partial.pop("location_source")

    with pytest.raises(ValidationError):
        lifecycle.case_create(origin=origin, organisation=world.city, values=partial)

    case = lifecycle.case_create(
        origin=origin,
        organisation=world.city,
        values={**partial, "location_source": "partner", "sex": ""},
        not_checked=("sex",),
    )
    assert case.pk is not None


# --- Ending ----------------------------------------------------------------------------------


def test_closing_records_the_outcome_cancels_tasks_and_tells_every_partner(world, coordinator):
    case = dispatched(world)
    open_tasks = Task.objects.open().filter(case=case).count()
    origin = Origin(actor=coordinator)
    helper = make_partner("PB", 34.65)
    silent = make_partner("PD", 33.9)
    helping = desk.aid_request_send(
        origin=origin, case=case, partner=helper.partner, reason="Heading north"
    )
    MutualAidRequest.objects.filter(pk=helping.pk).update(status=AidStatus.ACTIVE)
    unanswered = desk.aid_request_send(
        origin=origin, case=case, partner=silent.partner, reason="Heading south"
    )
    version = case.version

    closed = lifecycle.case_close(
        origin=origin, case=case, outcome=Outcome.FOUND_WELL, note="  At her sister's.  "
    )

    assert closed.status == CaseStatus.CLOSED
    assert closed.outcome == Outcome.FOUND_WELL
    assert closed.outcome_note == "At her sister's."
    assert closed.closed_at is not None
    assert closed.version == version + 1
    ended = CaseEvent.objects.get(case=case, kind=EventKind.OUTCOME_RECORDED)
    assert ended.actor == coordinator
    assert ended.data == {
        "old_status": CaseStatus.ACTIVE,
        "outcome": Outcome.FOUND_WELL,
        "note": "At her sister's.",
    }
    # Open tasks cancelled, once, with the reason on the timeline and an alert.
    assert not Task.objects.open().filter(case=case).exists()
    assert Task.objects.filter(case=case, status=TaskStatus.CANCELLED).count() == open_tasks
    changed = CaseEvent.objects.filter(case=case, kind=EventKind.TASK_CHANGED).latest("seq")
    assert changed.data["cancelled"] == open_tasks
    assert changed.seq > ended.seq
    assert Alert.objects.filter(case=case, kind=AlertKind.TASKS_CANCELLED).count() == 1
    # The helper is told the case closed, the one that never answered that it may stop.
    helping.refresh_from_db()
    unanswered.refresh_from_db()
    assert helping.status == AidStatus.COMPLETED
    assert unanswered.status == AidStatus.CANCELLED
    told = OutboxMessage.objects.filter(request=helping).latest("seq")
    assert told.type == AidMessageType.CLOSED and told.seq == 2
    assert told.body["data"] == {"outcome": Outcome.FOUND_WELL, "note": "At her sister's."}
    stopped = OutboxMessage.objects.filter(request=unanswered).latest("seq")
    assert stopped.type == AidMessageType.CANCELLED and stopped.seq == 2


def test_withdrawing_ends_the_case_the_same_way(world):
    case = dispatched(world)
    clerk = UserFactory(organisation=world.city, roles=["clerk"])
    helper = make_partner("PB", 34.65)
    coordinator = UserFactory(organisation=world.city, roles=["coordinator"])
    helping = desk.aid_request_send(
        origin=Origin(actor=coordinator), case=case, partner=helper.partner, reason="r"
    )
    MutualAidRequest.objects.filter(pk=helping.pk).update(status=AidStatus.ACCEPTED)

    withdrawn = lifecycle.case_withdraw(
        origin=Origin(actor=clerk), case=case, reason=" Came home before we started. "
    )

    assert withdrawn.status == CaseStatus.CLOSED
    assert withdrawn.outcome == Outcome.WITHDRAWN
    assert withdrawn.version == case.version + 1
    event = CaseEvent.objects.get(case=case, kind=EventKind.WITHDRAWN)
    assert event.data == {"old_status": CaseStatus.ACTIVE, "reason": "Came home before we started."}
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.OUTCOME_RECORDED).exists()
    assert not Task.objects.open().filter(case=case).exists()
    assert Alert.objects.filter(case=case, kind=AlertKind.TASKS_CANCELLED).exists()
    helping.refresh_from_db()
    assert helping.status == AidStatus.COMPLETED
    told = OutboxMessage.objects.filter(request=helping).latest("seq")
    assert told.type == AidMessageType.CLOSED
    assert told.body["data"]["outcome"] == Outcome.WITHDRAWN


def test_a_withdrawal_needs_a_reason(world):
    case = open_case(world)

    with pytest.raises(ValidationError) as refused:
        lifecycle.case_withdraw(origin=Origin(actor=world.clerk), case=case, reason="   ")

    assert "reason" in refused.value.message_dict
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN


def test_closing_twice_is_refused_and_changes_nothing(world, coordinator):
    case = open_case(world)
    origin = Origin(actor=coordinator)
    lifecycle.case_close(origin=origin, case=case, outcome=Outcome.FOUND_WELL)
    before = kinds(case)

    with pytest.raises(ValidationError, match="already closed"):
        lifecycle.case_close(origin=origin, case=case, outcome=Outcome.FOUND_INJURED)
    with pytest.raises(ValidationError, match="already closed"):
        lifecycle.case_withdraw(origin=origin, case=case, reason="mistake")

    case.refresh_from_db()
    assert case.outcome == Outcome.FOUND_WELL and case.version == 2
    assert kinds(case) == before


@pytest.mark.parametrize("outcome", [Outcome.WITHDRAWN, "vanished", ""])
def test_closing_needs_an_outcome_that_is_not_a_withdrawal(world, coordinator, outcome):
    case = open_case(world)

    with pytest.raises(ValidationError) as refused:
        lifecycle.case_close(origin=Origin(actor=coordinator), case=case, outcome=outcome)

    assert "outcome" in refused.value.message_dict
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN


def test_ending_a_closed_case_changes_nothing_but_still_cancels_open_tasks(world):
    case = dispatched(world)
    helper = make_partner("PB", 34.65)
    helping = desk.aid_request_send(
        origin=Origin(actor=world.clerk), case=case, partner=helper.partner, reason="r"
    )
    # Closed already (say, by a partner's closure that crossed our own), tasks still out.
    closed_at = timezone.now() - timedelta(minutes=5)
    Case.objects.filter(pk=case.pk).update(
        status=CaseStatus.CLOSED, outcome=Outcome.FOUND_WELL, closed_at=closed_at
    )
    case.refresh_from_db()
    before = kinds(case)
    messages = OutboxMessage.objects.count()

    result = lifecycle.case_end(
        origin=Origin.partner(), case=case, outcome=Outcome.WITHDRAWN, note="late"
    )

    assert result.status == CaseStatus.CLOSED
    assert result.outcome == Outcome.FOUND_WELL
    assert result.closed_at == closed_at
    assert result.version == case.version
    assert kinds(case) == [*before, EventKind.TASK_CHANGED]
    assert not Task.objects.open().filter(case=case).exists()
    # Partners were told when it closed, not again.
    assert OutboxMessage.objects.count() == messages
    helping.refresh_from_db()
    assert helping.status == AidStatus.SENT


def test_closing_our_assisting_case_tells_the_city_we_help_and_leaves_its_request_open(world):
    case = open_case(world)
    asking = make_partner("PB", 34.65)
    request = MutualAidRequest.objects.create(
        direction="inbound",
        partner=asking.partner,
        case=case,
        status=AidStatus.ACTIVE,
        reason="Help",
        area=asking.partner.region,
        status_changed_at=timezone.now(),
    )

    lifecycle.case_close(origin=Origin(actor=world.clerk), case=case, outcome=Outcome.RETURNED)

    request.refresh_from_db()
    assert request.status == AidStatus.ACTIVE
    note = OutboxMessage.objects.get(request=request)
    assert note.type == AidMessageType.NOTE
    assert case.reference in note.body["data"]["text"]


@pytest.mark.parametrize("role", ["clerk", "field", "supervisor"])
def test_only_a_coordinator_may_close(world, role):
    case = dispatched(world)
    outsider = UserFactory(organisation=world.city, roles=[role])
    before = kinds(case)

    with pytest.raises(PermissionDenied):
        lifecycle.case_close(origin=Origin(actor=outsider), case=case, outcome=Outcome.FOUND_WELL)

    case.refresh_from_db()
    assert case.status == CaseStatus.ACTIVE
    assert kinds(case) == before
    assert Task.objects.open().filter(case=case).exists()


@pytest.mark.parametrize("role", ["field", "supervisor", "counsellor"])
def test_only_a_clerk_or_coordinator_may_withdraw(world, role):
    case = open_case(world)
    outsider = UserFactory(organisation=world.city, roles=[role])

    with pytest.raises(PermissionDenied):
        lifecycle.case_withdraw(origin=Origin(actor=outsider), case=case, reason="mistake")

    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN


def test_a_long_note_is_cut_once_for_the_case_the_timeline_and_the_partner(world, coordinator):
    case = dispatched(world)
    origin = Origin(actor=coordinator)
    helper = make_partner("PB", 34.65)
    helping = desk.aid_request_send(origin=origin, case=case, partner=helper.partner, reason="r")
    MutualAidRequest.objects.filter(pk=helping.pk).update(status=AidStatus.ACTIVE)

    closed = lifecycle.case_end(
        origin=origin, case=case, outcome=Outcome.FOUND_WELL, note="n" * 5000
    )

    assert len(closed.outcome_note) == lifecycle.MAX_NOTE
    ended = CaseEvent.objects.get(case=case, kind=EventKind.OUTCOME_RECORDED)
    assert ended.data["note"] == closed.outcome_note
    told = OutboxMessage.objects.filter(request=helping).latest("seq")
    assert told.body["data"]["note"] == closed.outcome_note
