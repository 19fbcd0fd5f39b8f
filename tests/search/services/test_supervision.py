"""Supervision orders (督办): issue, acknowledge, answer, satisfy, re-open, escalate."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from search.choices import AlertKind, CaseStatus, EventKind, OrderStatus
from search.models import Alert, CaseEvent, SupervisionOrder
from search.services import supervision
from search.services.timeline import Origin
from tests.factories import CaseFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    """A city with a county below it; a supervisor and coordinators on both, and outsiders."""
    city = OrganisationFactory(code="CTY")
    county = OrganisationFactory(code="CNY", level="county", parent=city)
    other_city = OrganisationFactory(code="OTH")
    people = {
        "supervisor": UserFactory(organisation=city, roles=["supervisor"]),
        "city_coordinator": UserFactory(organisation=city, roles=["coordinator"]),
        "county_coordinator": UserFactory(organisation=county, roles=["coordinator"]),
        "county_coordinator_2": UserFactory(organisation=county, roles=["coordinator"]),
        "county_supervisor": UserFactory(organisation=county, roles=["supervisor"]),
        "clerk": UserFactory(organisation=city, roles=["clerk"]),
        "field": UserFactory(organisation=county, roles=["field"]),
        "counsellor": UserFactory(organisation=county, roles=["counsellor"]),
        "outsider": UserFactory(organisation=other_city, roles=["supervisor", "coordinator"]),
    }
    case = CaseFactory(organisation=county)
    return {"city": city, "county": county, "other": other_city, "case": case, **people}


def issue(t, *, by="supervisor", desk="county", person=None, hours=2, **kw):
    return supervision.order_issue(
        origin=Origin(actor=t[by]),
        case=kw.pop("case", t["case"]),
        instruction=kw.pop("instruction", "Widen the area to the river and report by phone."),
        deadline=timezone.now() + timedelta(hours=hours),
        desk=t[desk],
        person=t[person] if person else None,
        **kw,
    )


def steps(order):
    return list(
        CaseEvent.objects.filter(
            case=order.case, kind=EventKind.SUPERVISION, data__order=order.pk
        ).values_list("data__what", flat=True)
    )


def test_issue_acknowledge_answer_satisfy_each_on_the_timeline(tree):
    order = issue(tree)
    assert order.status == OrderStatus.ISSUED
    assert order.issuer_organisation == tree["city"]

    supervision.order_acknowledge(origin=Origin(actor=tree["county_coordinator"]), order=order)
    assert order.status == OrderStatus.ACKNOWLEDGED and order.acknowledged_at is not None

    supervision.order_answer(
        origin=Origin(actor=tree["county_coordinator_2"]),
        order=order,
        answer="Area widened to the river; two more teams out.",
        action="area_widened",
    )
    assert order.status == OrderStatus.ANSWERED
    assert order.answered_by == tree["county_coordinator_2"]
    assert order.action_label == "Search area widened"

    supervision.order_satisfy(origin=Origin(actor=tree["supervisor"]), order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.SATISFIED and order.closed_at is not None
    assert steps(order) == ["issued", "acknowledged", "answered", "satisfied"]
    issued = CaseEvent.objects.get(case=order.case, data__what="issued")
    assert issued.actor == tree["supervisor"]
    assert issued.data["desk"] == "CNY"
    assert issued.data["instruction"].startswith("Widen the area")


def test_reopen_sends_it_back_with_a_new_deadline_and_it_is_answered_again(tree):
    order = issue(tree)
    actor = Origin(actor=tree["county_coordinator"])
    supervision.order_answer(origin=actor, order=order, answer="Done.")
    assert order.acknowledged_at is not None  # answering says it was seen

    new_deadline = timezone.now() + timedelta(hours=5)
    supervision.order_reopen(
        origin=Origin(actor=tree["supervisor"]),
        order=order,
        reason="The river bank east of the bridge is not covered.",
        deadline=new_deadline,
    )
    assert order.status == OrderStatus.REOPENED and order.deadline == new_deadline
    supervision.order_acknowledge(origin=actor, order=order)
    supervision.order_answer(origin=actor, order=order, answer="East bank searched.")
    supervision.order_satisfy(origin=Origin(actor=tree["supervisor"]), order=order)
    assert steps(order) == [
        "issued",
        "answered",
        "reopened",
        "acknowledged",
        "answered",
        "satisfied",
    ]


def test_an_order_to_a_person_is_theirs_alone(tree):
    order = issue(tree, person="county_coordinator")
    with pytest.raises(PermissionDenied):
        supervision.order_acknowledge(
            origin=Origin(actor=tree["county_coordinator_2"]), order=order
        )
    supervision.order_acknowledge(origin=Origin(actor=tree["county_coordinator"]), order=order)


def test_a_coordinator_orders_only_the_desks_below_their_own(tree):
    order = issue(tree, by="city_coordinator", desk="county")
    assert order.addressee_organisation == tree["county"]
    with pytest.raises(ValidationError) as exc:
        issue(tree, by="county_coordinator", desk="county")
    assert exc.value.message_dict["desk"] == ["You may only order desks under your own."]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"hours": -1}, "deadline", "The deadline must be in the future."),
        ({"hours": 24 * 91}, "deadline", "The deadline may be at most 90 days ahead."),
        ({"desk": "other"}, "desk", "You may only order desks under your own."),
        ({"person": "outsider"}, "person", "Choose a coordinator or supervisor of that desk."),
        ({"person": "field"}, "person", "Choose a coordinator or supervisor of that desk."),
        ({"instruction": "   "}, "instruction", "This field is required."),
        ({"instruction": "a\x00b"}, "instruction", "Null characters are not allowed."),
        ({"instruction": "x" * 2001}, "instruction", "At most 2000 characters."),
    ],
)
def test_bad_orders_are_refused_with_a_clear_message_and_nothing_written(
    tree, kwargs, field, message
):
    before = CaseEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        issue(tree, **kwargs)
    assert exc.value.message_dict[field] == [message]
    assert SupervisionOrder.objects.count() == 0
    assert CaseEvent.objects.count() == before


def test_no_order_on_a_closed_case_nor_on_another_cases_request(tree):
    closed = CaseFactory(
        organisation=tree["county"], status=CaseStatus.CLOSED, outcome="found_well"
    )
    with pytest.raises(ValidationError, match="The case is closed"):
        issue(tree, case=closed)
    other = CaseFactory(organisation=tree["county"])
    from search.models import MutualAidRequest

    request = MutualAidRequest(case=other)
    with pytest.raises(ValidationError) as exc:
        issue(tree, aid_request=request)
    assert exc.value.message_dict["aid_request"] == ["That request is not about this case."]
    assert SupervisionOrder.objects.count() == 0


@pytest.mark.parametrize("who", ["clerk", "field", "counsellor", "outsider"])
def test_outsiders_and_other_roles_cannot_issue(tree, who):
    with pytest.raises(PermissionDenied):
        issue(tree, by=who)
    assert SupervisionOrder.objects.count() == 0


# Who may do each step, for an order from the city supervisor to the county desk.
ROLES = [
    "supervisor",
    "city_coordinator",
    "county_coordinator",
    "county_supervisor",
    "clerk",
    "field",
    "counsellor",
    "outsider",
]
MAY_ANSWER = {"county_coordinator", "county_supervisor"}
MAY_CLOSE = {"supervisor"}


def _at(t, status):
    """Return an order brought to the status by the people allowed to."""
    order = issue(t)
    holder = Origin(actor=t["county_coordinator"])
    if status in (OrderStatus.ACKNOWLEDGED, OrderStatus.ANSWERED):
        supervision.order_acknowledge(origin=holder, order=order)
    if status == OrderStatus.ANSWERED:
        supervision.order_answer(origin=holder, order=order, answer="Done.")
    return order


ACTIONS = {
    "acknowledge": (OrderStatus.ISSUED, MAY_ANSWER, lambda o, u: {}),
    "answer": (OrderStatus.ACKNOWLEDGED, MAY_ANSWER, lambda o, u: {"answer": "Done."}),
    "satisfy": (OrderStatus.ANSWERED, MAY_CLOSE, lambda o, u: {}),
    "reopen": (
        OrderStatus.ANSWERED,
        MAY_CLOSE,
        lambda o, u: {"reason": "Not yet.", "deadline": timezone.now() + timedelta(hours=1)},
    ),
}


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_role_against_every_order_action(tree, who, action):
    status, allowed, arguments = ACTIONS[action]
    order = _at(tree, status)
    service = getattr(supervision, f"order_{action}")
    version = order.version
    if who in allowed:
        service(origin=Origin(actor=tree[who]), order=order, **arguments(order, tree[who]))
        order.refresh_from_db()
        assert order.version == version + 1
    else:
        with pytest.raises(PermissionDenied):
            service(origin=Origin(actor=tree[who]), order=order, **arguments(order, tree[who]))
        order.refresh_from_db()
        assert order.status == status and order.version == version


def test_a_supervisor_of_the_issuing_desk_may_close_for_an_absent_issuer(tree):
    order = _at(tree, OrderStatus.ANSWERED)
    deputy = UserFactory(organisation=tree["city"], roles=["supervisor"])
    supervision.order_satisfy(origin=Origin(actor=deputy), order=order)
    assert order.status == OrderStatus.SATISFIED


def test_acting_on_a_closed_order_or_in_the_wrong_state_is_refused(tree):
    order = _at(tree, OrderStatus.ANSWERED)
    supervision.order_satisfy(origin=Origin(actor=tree["supervisor"]), order=order)
    holder = Origin(actor=tree["county_coordinator"])
    for call in (
        lambda: supervision.order_acknowledge(origin=holder, order=order),
        lambda: supervision.order_answer(origin=holder, order=order, answer="Again."),
        lambda: supervision.order_satisfy(origin=Origin(actor=tree["supervisor"]), order=order),
    ):
        with pytest.raises(ValidationError) as exc:
            call()
        assert exc.value.messages == ["This order is Satisfied: that cannot be done now."]
    assert steps(order) == ["issued", "acknowledged", "answered", "satisfied"]


def test_two_answers_from_the_same_page_one_wins(tree):
    order = issue(tree)
    read = order.version
    first = SupervisionOrder.objects.get(pk=order.pk)
    second = SupervisionOrder.objects.get(pk=order.pk)
    supervision.order_answer(
        origin=Origin(actor=tree["county_coordinator"]), order=first, answer="A", version=read
    )
    with pytest.raises(ValidationError) as exc:
        supervision.order_acknowledge(
            origin=Origin(actor=tree["county_coordinator_2"]), order=second, version=read
        )
    assert exc.value.messages == ["This order is Answered: that cannot be done now."]
    # Same status, older version: the page was stale.
    order.refresh_from_db()
    supervision.order_reopen(
        origin=Origin(actor=tree["supervisor"]),
        order=order,
        reason="More.",
        deadline=timezone.now() + timedelta(hours=1),
    )
    with pytest.raises(ValidationError) as exc:
        supervision.order_answer(
            origin=Origin(actor=tree["county_coordinator"]),
            order=order,
            answer="B",
            version=read,
        )
    assert exc.value.messages == ["Someone changed this order meanwhile; reload it and try again."]
    order.refresh_from_db()
    assert order.answer == "A"


def test_overdue_orders_escalate_once_one_level_up(tree):
    on_time = issue(tree)
    late = issue(tree)
    answered = _at(tree, OrderStatus.ANSWERED)
    past = timezone.now() - timedelta(minutes=1)
    SupervisionOrder.objects.filter(pk__in=[late.pk, answered.pk]).update(deadline=past)

    assert supervision.orders_escalate(now=timezone.now()) == 1
    assert supervision.orders_escalate(now=timezone.now()) == 0  # once per deadline
    late.refresh_from_db()
    assert late.escalated_to == tree["city"] and late.escalated_at is not None
    assert late.is_overdue(timezone.now())
    on_time.refresh_from_db()
    assert on_time.escalated_at is None and not on_time.is_overdue(timezone.now())
    assert steps(late)[-1] == "escalated"
    assert CaseEvent.objects.get(data__what="escalated").data["to"] == "CTY"
    alert = Alert.objects.get(kind=AlertKind.ORDER_OVERDUE)
    assert alert.case == late.case and str(late.pk) in alert.message

    # The desk above may now answer it too; the city coordinator could not before.
    supervision.order_answer(
        origin=Origin(actor=tree["city_coordinator"]), order=late, answer="Taken over."
    )
    assert late.status == OrderStatus.ANSWERED


def test_an_order_to_the_city_itself_stays_there_when_overdue(tree):
    order = issue(tree, desk="city", person="city_coordinator")
    SupervisionOrder.objects.filter(pk=order.pk).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    assert supervision.orders_escalate(now=timezone.now()) == 1
    order.refresh_from_db()
    assert order.escalated_to == tree["city"]


def test_reopening_lets_it_escalate_again_at_the_new_deadline(tree):
    order = issue(tree)
    SupervisionOrder.objects.filter(pk=order.pk).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    supervision.orders_escalate(now=timezone.now())
    order.refresh_from_db()
    supervision.order_answer(
        origin=Origin(actor=tree["county_coordinator"]), order=order, answer="x"
    )
    supervision.order_reopen(
        origin=Origin(actor=tree["supervisor"]),
        order=order,
        reason="No.",
        deadline=timezone.now() + timedelta(minutes=5),
    )
    assert order.escalated_at is None and order.escalated_to is None
    SupervisionOrder.objects.filter(pk=order.pk).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    assert supervision.orders_escalate(now=timezone.now()) == 1
