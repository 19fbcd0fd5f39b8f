"""The supervision-order pages: issue from a case, see the order, act on it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from search.choices import OrderStatus
from search.models import CaseEvent, SupervisionOrder
from search.services import supervision
from search.services.timeline import Origin
from tests.factories import CaseFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def t():
    city = OrganisationFactory(code="VCT")
    county = OrganisationFactory(code="VCN", level="county", parent=city)
    return {
        "city": city,
        "county": county,
        "case": CaseFactory(organisation=county),
        "supervisor": UserFactory(organisation=city, roles=["supervisor"]),
        "coordinator": UserFactory(organisation=county, roles=["coordinator"]),
        "clerk": UserFactory(organisation=county, roles=["clerk"]),
        "outsider": UserFactory(organisation=OrganisationFactory(), roles=["supervisor"]),
    }


def local(dt):
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def issue(t, **kw):
    return supervision.order_issue(
        origin=Origin(actor=t["supervisor"]),
        case=t["case"],
        instruction="Ask the railway police for the station cameras.",
        deadline=timezone.now() + timedelta(hours=2),
        desk=t["county"],
        **kw,
    )


def test_a_supervisor_issues_an_order_from_the_case(client, t):
    client.force_login(t["supervisor"])
    url = reverse("order_issue", args=[t["case"].pk])
    page = client.get(url)
    assert page.status_code == 200
    assert [d.code for d in page.context["form"].fields["desk"].queryset] == ["VCT", "VCN"]

    answer = client.post(
        url,
        {
            "instruction": "Check the bus depot.",
            "deadline": local(timezone.now() + timedelta(hours=3)),
            "desk": t["county"].pk,
            "person": t["coordinator"].pk,
        },
    )
    order = SupervisionOrder.objects.get()
    assert answer.status_code == 302 and answer["Location"] == order.get_absolute_url()
    assert order.addressee_user == t["coordinator"]
    case_page = client.get(reverse("case_detail", args=[t["case"].pk]))
    assert order.get_absolute_url() in case_page.content.decode()


def test_a_deadline_in_the_past_is_a_form_error_and_nothing_is_written(client, t):
    client.force_login(t["supervisor"])
    answer = client.post(
        reverse("order_issue", args=[t["case"].pk]),
        {
            "instruction": "Check the bus depot.",
            "deadline": local(timezone.now() - timedelta(hours=1)),
            "desk": t["county"].pk,
        },
    )
    assert answer.status_code == 400
    assert answer.context["form"].errors["deadline"] == ["The deadline must be in the future."]
    assert not SupervisionOrder.objects.exists()


def test_a_desk_outside_the_issuers_tree_is_not_offered_and_refused(client, t):
    client.force_login(t["supervisor"])
    answer = client.post(
        reverse("order_issue", args=[t["case"].pk]),
        {
            "instruction": "x",
            "deadline": local(timezone.now() + timedelta(hours=1)),
            "desk": t["outsider"].organisation.pk,
        },
    )
    assert answer.status_code == 400
    assert "desk" in answer.context["form"].errors
    assert not SupervisionOrder.objects.exists()


@pytest.mark.parametrize("who", ["clerk", "outsider"])
def test_others_cannot_issue_or_see_orders(client, t, who):
    order = issue(t)
    client.force_login(t[who])
    issue_page = client.get(reverse("order_issue", args=[t["case"].pk]))
    assert issue_page.status_code in (403, 404)
    assert client.get(order.get_absolute_url()).status_code == 404
    act = client.post(
        reverse("order_act", args=[order.pk, "acknowledge"]), {"version": order.version}
    )
    assert act.status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUED


def test_the_coordinator_answers_and_the_supervisor_satisfies(client, t):
    order = issue(t)
    client.force_login(t["coordinator"])
    page = client.get(order.get_absolute_url())
    assert page.context["can_acknowledge"] and page.context["can_answer"]
    assert not page.context["can_close"]
    answer = client.post(
        reverse("order_act", args=[order.pk, "answer"]),
        {"version": order.version, "answer": "Cameras asked for.", "action": "aid_requested"},
    )
    assert answer.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.ANSWERED and order.answer_action == "aid_requested"
    # The coordinator may not close it.
    refused = client.post(
        reverse("order_act", args=[order.pk, "satisfy"]), {"version": order.version}
    )
    assert refused.status_code == 403

    client.force_login(t["supervisor"])
    done = client.post(reverse("order_act", args=[order.pk, "satisfy"]), {"version": order.version})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.SATISFIED
    page = client.get(order.get_absolute_url())
    assert [s["what"] for s in page.context["steps"]] == ["Issued", "Answered", "Satisfied"]


def test_a_stale_page_is_told_to_reload_and_changes_nothing(client, t):
    order = issue(t)
    stale = order.version
    supervision.order_acknowledge(origin=Origin(actor=t["coordinator"]), order=order)
    supervision.order_answer(origin=Origin(actor=t["coordinator"]), order=order, answer="Yes.")
    supervision.order_reopen(
        origin=Origin(actor=t["supervisor"]),
        order=order,
        reason="Not enough.",
        deadline=timezone.now() + timedelta(hours=1),
    )
    client.force_login(t["coordinator"])
    events = CaseEvent.objects.count()
    answer = client.post(
        reverse("order_act", args=[order.pk, "answer"]), {"version": stale, "answer": "Again."}
    )
    assert answer.status_code == 400
    assert "reload it" in answer.context["answer_form"].non_field_errors()[0]
    assert CaseEvent.objects.count() == events


def test_a_reopen_without_reason_or_with_a_past_deadline_is_refused(client, t):
    order = issue(t)
    supervision.order_answer(origin=Origin(actor=t["coordinator"]), order=order, answer="Yes.")
    client.force_login(t["supervisor"])
    url = reverse("order_act", args=[order.pk, "reopen"])
    blank = client.post(
        url,
        {"version": order.version, "reason": "", "deadline": local(timezone.now())},
    )
    assert blank.status_code == 400 and "reason" in blank.context["reopen_form"].errors
    past = client.post(
        url,
        {
            "version": order.version,
            "reason": "More.",
            "deadline": local(timezone.now() - timedelta(hours=1)),
        },
    )
    assert past.status_code == 400
    assert past.context["reopen_form"].errors["deadline"] == ["The deadline must be in the future."]
    order.refresh_from_db()
    assert order.status == OrderStatus.ANSWERED


def test_the_order_list_shows_overdue_orders_first(client, t):
    later = issue(t)
    sooner = issue(t)
    SupervisionOrder.objects.filter(pk=sooner.pk).update(
        deadline=timezone.now() - timedelta(minutes=5)
    )
    client.force_login(t["coordinator"])
    page = client.get(reverse("order_list"))
    assert [o.pk for o in page.context["to_answer"]] == [sooner.pk, later.pk]
    assert "overdue" in page.content.decode()
    client.force_login(t["supervisor"])
    page = client.get(reverse("order_list"))
    assert [o.pk for o in page.context["issued"]] == [sooner.pk, later.pk]


def test_an_unknown_action_is_not_found(client, t):
    order = issue(t)
    client.force_login(t["coordinator"])
    assert client.post(reverse("order_act", args=[order.pk, "delete"]), {}).status_code == 404


def test_an_order_on_an_aid_request_shows_on_the_aid_board_overdue(client, demo_world):
    from accounts.models import Organisation, Partner, User
    from tests.factories import AidRequestFactory

    city = Organisation.objects.get(code="PC")
    case = CaseFactory(organisation=city)
    request = AidRequestFactory(
        direction="outbound", partner=Partner.objects.get(organisation__code="HS"), case=case
    )
    supervisor = User.objects.get(username="supervisor")
    order = supervision.order_issue(
        origin=Origin(actor=supervisor),
        case=case,
        instruction="Phone Hanshan's duty officer for an answer.",
        deadline=timezone.now() + timedelta(hours=1),
        desk=city,
        aid_request=request,
    )
    SupervisionOrder.objects.filter(pk=order.pk).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(User.objects.get(username="coordinator"))
    board = client.get(reverse("aid_board")).content.decode()
    card = board.split(f'id="aid-{request.uid}"')[1].split("</section>")[0]
    assert order.get_absolute_url() in card and "overdue" in card
    page = client.get(order.get_absolute_url()).content.decode()
    assert f"#aid-{request.uid}" in page
