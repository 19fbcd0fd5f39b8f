"""Supervision orders (督办): issue one from a case, see it, and act on it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import Organisation, User
from search import permissions
from search.choices import ORDER_AWAITING_ANSWER, EventKind, OrderStatus
from search.forms import OrderAnswerForm, OrderIssueForm, OrderReopenForm, OrderVersionForm
from search.models import CaseEvent, SupervisionOrder
from search.selectors import orders_issued_by, orders_to_answer, orders_visible_to
from search.services import supervision
from search.views.cases import origin_of, require, visible_case


def _issue_choices(user: User) -> dict:
    """Return the desks, people and requests this user may address an order to."""
    tree = supervision.issuable_desk_ids(user)
    desks = Organisation.objects.filter(pk__in=tree).order_by("level", "code")
    people = (
        User.objects.filter(
            organisation_id__in=tree, is_active=True, groups__name__in=list(permissions.ORDER_ROLES)
        )
        .select_related("organisation")
        .distinct()
        .order_by("organisation__code", "username")
    )
    return {"desks": desks, "people": people}


def _put_errors(form, exc: ValidationError) -> None:
    """Show the service's refusal on the form: on the field it names, or above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def order_issue(request, pk: int):
    """Issue an order on this case (and optionally one of its aid requests)."""
    require(permissions.can_work_orders(request.user))
    case = visible_case(request, pk)
    choices = _issue_choices(request.user)
    form = OrderIssueForm(
        request.POST or None, aid_requests=case.aid_requests.select_related("partner"), **choices
    )
    if not choices["desks"].exists():
        raise PermissionDenied
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            order = supervision.order_issue(
                origin=origin_of(request),
                case=case,
                instruction=d["instruction"],
                deadline=d["deadline"],
                desk=d["desk"],
                person=d["person"],
                aid_request=d["aid_request"],
            )
        except ValidationError as exc:
            _put_errors(form, exc)
        else:
            messages.success(request, _("Order issued."))
            return redirect(order)
    status = 400 if request.method == "POST" else 200
    return render(request, "search/order_form.html", {"case": case, "form": form}, status=status)


def _visible_order(request, pk: int) -> SupervisionOrder:
    order = (
        orders_visible_to(request.user)
        .select_related(
            "case",
            "aid_request__partner",
            "issued_by",
            "issuer_organisation",
            "addressee_organisation",
            "addressee_user",
            "answered_by",
            "escalated_to",
        )
        .filter(pk=pk)
        .first()
    )
    if order is None:
        raise Http404
    return order


STEP_LABELS = {
    "issued": gettext_lazy("Issued"),
    "acknowledged": gettext_lazy("Acknowledged"),
    "answered": gettext_lazy("Answered"),
    "satisfied": gettext_lazy("Satisfied"),
    "reopened": gettext_lazy("Re-opened"),
    "escalated": gettext_lazy("Overdue: escalated one level up"),
}


def _steps(order: SupervisionOrder) -> list[dict]:
    """Return the order's steps as the case timeline recorded them, oldest first."""
    events = (
        CaseEvent.objects.filter(
            case_id=order.case_id, kind=EventKind.SUPERVISION, data__order=order.pk
        )
        .select_related("actor")
        .order_by("seq")
    )
    return [
        {
            "at": e.created_at,
            "what": STEP_LABELS.get(e.data.get("what"), e.data.get("what")),
            "who": (e.actor.get_full_name() or e.actor.username) if e.actor else _("system"),
        }
        for e in events
    ]


def _detail(request, order: SupervisionOrder, *, forms: dict | None = None, status: int = 200):
    user = request.user
    holder = supervision.is_holder(user, order)
    issuer = supervision.is_issuer(user, order)
    forms = forms or {}
    version = {"version": order.version}
    context = {
        "order": order,
        "overdue": order.is_overdue(timezone.now()),
        "steps": _steps(order),
        "can_acknowledge": holder and order.status in (OrderStatus.ISSUED, OrderStatus.REOPENED),
        "can_answer": holder and order.status in ORDER_AWAITING_ANSWER,
        "can_close": issuer and order.status == OrderStatus.ANSWERED,
        "ack_form": forms.get("acknowledge") or OrderVersionForm(initial=version),
        "answer_form": forms.get("answer") or OrderAnswerForm(initial=version),
        "satisfy_form": forms.get("satisfy") or OrderVersionForm(initial=version),
        "reopen_form": forms.get("reopen") or OrderReopenForm(initial=version),
    }
    return render(request, "search/order_detail.html", context, status=status)


@login_required
@require_safe
def order_detail(request, order_id: int):
    """The order: what, by when, to whom, its answer and every step so far."""
    return _detail(request, _visible_order(request, order_id))


ACTIONS = {
    "acknowledge": (OrderVersionForm, lambda o, d: {}, supervision.order_acknowledge),
    "answer": (
        OrderAnswerForm,
        lambda o, d: {"answer": d["answer"], "action": d["action"]},
        supervision.order_answer,
    ),
    "satisfy": (OrderVersionForm, lambda o, d: {}, supervision.order_satisfy),
    "reopen": (
        OrderReopenForm,
        lambda o, d: {"reason": d["reason"], "deadline": d["deadline"]},
        supervision.order_reopen,
    ),
}
DONE = {
    "acknowledge": gettext_lazy("Acknowledged."),
    "answer": gettext_lazy("Answer sent."),
    "satisfy": gettext_lazy("Order closed as satisfied."),
    "reopen": gettext_lazy("Order re-opened."),
}


@login_required
@require_POST
def order_act(request, order_id: int, action: str):
    """Acknowledge, answer, satisfy or re-open: the form's version guards against a stale page."""
    if action not in ACTIONS:
        raise Http404
    order = _visible_order(request, order_id)
    form_class, arguments, service = ACTIONS[action]
    form = form_class(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            service(
                origin=origin_of(request), order=order, version=d["version"], **arguments(order, d)
            )
        except ValidationError as exc:
            _put_errors(form, exc)
        else:
            messages.success(request, str(DONE[action]))
            return redirect(order)
    return _detail(request, order, forms={action: form}, status=400)


@login_required
@require_safe
def order_list(request):
    """The orders this person must answer and those they issued, overdue first."""
    require(permissions.can_work_orders(request.user))
    now = timezone.now()
    visible = orders_visible_to(request.user)
    closed = (
        visible.filter(Q(status=OrderStatus.SATISFIED))
        .select_related("case", "addressee_organisation")
        .order_by("-closed_at")[:20]
    )
    return render(
        request,
        "search/order_list.html",
        {
            "to_answer": list(orders_to_answer(request.user)),
            "issued": list(orders_issued_by(request.user)),
            "closed": closed,
            "now": now,
        },
    )
