"""Mutual-aid pages: the board of requests both ways, and the actions on them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from search import permissions
from search.choices import AID_AWAITING_ANSWER, AID_OPEN_STATUSES, AidDirection, SubjectCategory
from search.forms import AidAcceptForm, AidAskForm, AidNoteForm, AidReasonForm
from search.models import MutualAidRequest, SupervisionOrder
from search.selectors import aid_requests_visible_to, partner_delivery_states
from search.services.aid import desk
from search.views.cases import origin_of, require, visible_case

BOARD_ROLES = {"coordinator", "supervisor"}
RECENTLY_ENDED_SHOWN = 20


def can_see_board(user) -> bool:
    return permissions.has_any_role(user, BOARD_ROLES)


def _row(request: MutualAidRequest, now) -> dict:
    waiting_for_answer = request.status in AID_AWAITING_ANSWER
    category = (request.summary or {}).get("category")
    return {
        "request": request,
        # The partner sends the category's code; show our label for it, or the code if unknown.
        "their_category": SubjectCategory(category).label
        if category in SubjectCategory.values
        else category,
        "age": now - request.created_at,
        "overdue": request.is_overdue(now),
        "undelivered": request.undelivered,
        "needs_answer": request.direction == AidDirection.INBOUND and waiting_for_answer,
    }


@login_required
@require_safe
def aid_board(request):
    """How delivery to each partner stands, then every open request with partner, status, age,
    last message and what is overdue."""
    require(can_see_board(request.user))
    now = timezone.now()
    mine = aid_requests_visible_to(request.user)
    open_requests = (
        mine.filter(status__in=AID_OPEN_STATUSES)
        .annotate(
            undelivered=Count(
                "outbox_messages", filter=Q(outbox_messages__delivered_at__isnull=True)
            )
        )
        .prefetch_related(
            Prefetch(
                "supervision_orders",
                queryset=SupervisionOrder.objects.open().select_related(
                    "case", "addressee_organisation", "addressee_user"
                ),
                to_attr="open_orders",
            )
        )
        .order_by("created_at")
    )
    open_rows = [_row(r, now) for r in open_requests]
    ended = mine.exclude(status__in=AID_OPEN_STATUSES).order_by("-status_changed_at")[
        :RECENTLY_ENDED_SHOWN
    ]
    return render(
        request,
        "search/aid_board.html",
        {
            "partners": partner_delivery_states(request.user),
            "rows": open_rows,
            "ended": ended,
            "overdue_count": sum(1 for r in open_rows if r["overdue"]),
            "can_act": permissions.can_close_case(request.user),
            "accept_form": AidAcceptForm(),
            "reason_form": AidReasonForm(),
            "note_form": AidNoteForm(),
        },
    )


@login_required
@require_POST
def aid_ask(request, pk: int):
    """Ask a partner city for help with this case (from the case page)."""
    require(permissions.can_close_case(request.user))
    case = visible_case(request, pk)
    form = AidAskForm(request.POST)
    _run_and_tell(
        request,
        form,
        lambda d: desk.aid_request_send(
            origin=origin_of(request), case=case, partner=d["partner"], reason=d["reason"]
        ),
        lambda d: _("Request sent to %(partner)s.") % {"partner": d["partner"]},
    )
    return redirect("case_detail", pk=case.pk)


def _run_and_tell(request, form, call, done) -> None:
    """Call the service with the form's data; say what happened, or why not, as a message."""
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return
    try:
        call(form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done(form.cleaned_data))


def _act(request, uid, form_class, call, done: str):
    require(permissions.can_close_case(request.user))
    aid = get_object_or_404(aid_requests_visible_to(request.user), uid=uid)
    _run_and_tell(request, form_class(request.POST), lambda d: call(aid, d), lambda d: done)
    return redirect("aid_board")


@login_required
@require_POST
def aid_accept(request, uid):
    return _act(
        request,
        uid,
        AidAcceptForm,
        lambda aid, d: desk.aid_accept(origin=origin_of(request), request=aid, note=d["note"]),
        _("Accepted: an assisting case is open and its sectors go to our units."),
    )


@login_required
@require_POST
def aid_decline(request, uid):
    return _act(
        request,
        uid,
        AidReasonForm,
        lambda aid, d: desk.aid_decline(origin=origin_of(request), request=aid, reason=d["reason"]),
        _("Declined; the partner has been told why."),
    )


@login_required
@require_POST
def aid_cancel(request, uid):
    return _act(
        request,
        uid,
        AidReasonForm,
        lambda aid, d: desk.aid_cancel(origin=origin_of(request), request=aid, reason=d["reason"]),
        _("Request cancelled; the partner stops its search."),
    )


@login_required
@require_POST
def aid_note(request, uid):
    return _act(
        request,
        uid,
        AidNoteForm,
        lambda aid, d: desk.aid_note(origin=origin_of(request), request=aid, text=d["text"]),
        _("Note sent."),
    )
