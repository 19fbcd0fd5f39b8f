"""Pages for clerks, coordinators and counsellors: parse, call one service, render."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from accounts.selectors import organisations_in_scope
from search import permissions
from search.filters import CaseFilter
from search.forms import (
    AidAskForm,
    CaseEditForm,
    CaseForm,
    CloseForm,
    CrisisContactForm,
    DuplicateReviewForm,
    PriorityOverrideForm,
    WithdrawForm,
)
from search.models import Case
from search.pagination import BoundedCountPaginator, page_size_from
from search.selectors import (
    case_aid_requests,
    case_public_alerts,
    cases_visible_to,
    crisis_queue,
    orders_visible_to,
    possible_duplicates,
)
from search.services import crisis, intake, lifecycle
from search.services.timeline import Origin
from search.services.triage import reason_text
from search.timeline_display import timeline_rows

CASES_PER_PAGE = 25


def origin_of(request) -> Origin:
    """Return who acts and from where, for the timeline."""
    return Origin.from_request(request)


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def visible_case(request, pk: int) -> Case:
    """Return the case if this user may see it; 404 otherwise, so existence is not revealed."""
    return get_object_or_404(cases_visible_to(request.user).select_related("organisation"), pk=pk)


@login_required
@require_safe
def case_list(request):
    require(permissions.can_read_cases(request.user))
    base = cases_visible_to(request.user).select_related("organisation").newest_critical_first()
    case_filter = CaseFilter(
        request.GET or None, queryset=base, organisations=organisations_in_scope(request.user)
    )
    cases = case_filter.qs if case_filter.is_bound and case_filter.is_valid() else base
    size_error = None
    try:
        per_page = page_size_from(request.GET.get("page_size"), default=CASES_PER_PAGE)
    except ValidationError as exc:
        per_page, size_error = CASES_PER_PAGE, exc.message_dict["page_size"][0]
    page = BoundedCountPaginator(cases, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    if size_error:
        query.pop("page_size", None)
    return render(
        request,
        "search/case_list.html",
        {
            "filter": case_filter,
            "page": page,
            "query": query.urlencode(),
            "size_error": size_error,
            "can_file": permissions.can_file_cases(request.user),
        },
        status=400 if size_error else 200,
    )


def _form_context(form, **extra):
    return {"form": form, "fields": form.visible_fields(), **extra}


@login_required
def case_create(request):
    require(permissions.can_file_cases(request.user))
    if request.method != "POST":
        return render(request, "search/case_form.html", _form_context(CaseForm()))
    form = CaseForm(request.POST, request.FILES)
    review = DuplicateReviewForm(request.POST)
    if not form.is_valid():
        return render(request, "search/case_form.html", _form_context(form), status=400)
    duplicates, unreviewed = duplicates_to_review(request, form, review)
    if unreviewed:
        # The photo cannot ride along a re-rendered form: the clerk is told to attach it again.
        return render(
            request,
            "search/case_form.html",
            _form_context(form, duplicates=duplicates, photo_dropped=bool(request.FILES)),
        )
    link_ids = set(review.cleaned_data.get("link_to") or [])
    try:
        case = intake.case_open(
            origin=origin_of(request),
            data=form.service_input(),
            link_to=[c for c in duplicates if c.pk in link_ids],
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(request, "search/case_form.html", _form_context(form), status=400)
    messages.success(request, _("Case %(ref)s opened.") % {"ref": case.reference})
    return redirect("case_detail", pk=case.pk)


def steered_case(request, pk: int) -> Case:
    """Return the case if the user may steer its search (coordinators of its tree), else 403/404."""
    require(permissions.can_override_priority(request.user))
    return visible_case(request, pk)


def duplicates_to_review(request, form, review: DuplicateReviewForm) -> tuple[list[Case], bool]:
    """Return the open cases that look like this report, and whether the clerk has still to
    review them (intake's rule, for a new report and for a confirmed draft alike)."""
    values = form.service_values()
    duplicates = possible_duplicates(
        user=request.user,
        subject_name=values["subject_name"],
        age=intake.subject_age(values),
        point=values["last_seen_point"],
        last_seen_at=values["last_seen_at"],
    )
    review.fields["link_to"].choices = [(c.pk, c.reference) for c in duplicates]
    review.is_valid()
    return duplicates, bool(duplicates) and not review.cleaned_data.get("duplicates_reviewed")


def public_links(alert) -> dict:
    """Return the alert's public page and its latest CAP message, as links."""
    latest = next(iter(alert.messages.all()), None)  # prefetched, newest first
    return {
        "page": alert.get_absolute_url(),
        "cap": latest.get_absolute_url() if latest else None,
        "latest": latest,
    }


def _public_alert_rows(case: Case) -> list[dict]:
    return [{"alert": alert, **public_links(alert)} for alert in case_public_alerts(case)]


def _detail_context(request, case: Case, revealed: set[str]) -> dict:
    user = request.user
    can_steer = permissions.can_override_priority(user)
    public_alerts = _public_alert_rows(case) if can_steer else []
    allowed = permissions.sensitive_groups_for(user)
    return {
        "case": case,
        "reasons": [reason_text(r) for r in case.priority_reasons],
        "events": timeline_rows(case, revealed=revealed),
        "allowed_sensitive": allowed,
        "revealed": revealed,
        "linked": case.linked_cases.all(),
        "contacts": case.crisis_contacts.select_related("counsellor")[:20],
        "can_edit": case.is_open and permissions.can_edit_case(user),
        "can_override": case.is_open and permissions.can_override_priority(user),
        "can_close": case.is_open and permissions.can_close_case(user),
        "can_withdraw": case.is_open and permissions.can_withdraw_case(user),
        "can_contact": case.is_open
        and case.self_harm_risk
        and permissions.can_work_crisis_desk(user),
        "override_form": PriorityOverrideForm(initial={"priority": case.priority}),
        "withdraw_form": WithdrawForm(),
        "close_form": CloseForm(),
        "contact_form": CrisisContactForm(),
        "aid_requests": case_aid_requests(case),
        "can_ask_aid": case.is_open and permissions.can_close_case(user),
        "aid_form": AidAskForm(),
        "orders": orders_visible_to(user)
        .filter(case=case)
        .select_related("case", "addressee_organisation", "addressee_user")
        .order_by("-created_at"),
        "can_order": case.is_open and permissions.can_work_orders(user),
        # What the public was told, for those who decide it (coordinators).
        "can_publish": can_steer,
        "public_alerts": public_alerts,
        "public_alert_active": any(row["alert"].is_active for row in public_alerts),
    }


@login_required
@require_safe
def case_detail(request, pk: int):
    case = visible_case(request, pk)
    return render(request, "search/case_detail.html", _detail_context(request, case, set()))


@login_required
@require_POST
def case_reveal(request, pk: int):
    """Show the sensitive parts this user may see, and record that they looked."""
    case = visible_case(request, pk)
    groups = permissions.sensitive_groups_for(request.user)
    require(bool(groups))
    intake.case_record_sensitive_view(origin=origin_of(request), case=case, groups=groups)
    return render(request, "search/case_detail.html", _detail_context(request, case, groups))


def _edit_revealed(request, case: Case) -> set[str]:
    """Return the sensitive parts on this edit form: those the editor asked to see (a POST of
    the reveal button, recorded) or brought along from that form; none on a plain GET."""
    if request.method != "POST":
        return set()
    allowed = permissions.sensitive_groups_for(request.user)
    if request.POST.get("reveal") and allowed:
        intake.case_record_sensitive_view(origin=origin_of(request), case=case, groups=allowed)
        return allowed
    return allowed if request.POST.get("with_sensitive") in ("True", "true", "on", "1") else set()


@login_required
def case_edit(request, pk: int):
    case = visible_case(request, pk)
    require(permissions.can_edit_case(request.user) and case.is_open)
    revealed = _edit_revealed(request, case)
    context = {"case": case, "can_reveal": bool(permissions.sensitive_groups_for(request.user))}
    if request.method != "POST" or request.POST.get("reveal"):
        form = CaseEditForm(instance=case, initial={"version": case.version}, revealed=revealed)
        return render(request, "search/case_form.html", _form_context(form, **context))
    form = CaseEditForm(
        request.POST, request.FILES, instance=Case.objects.get(pk=case.pk), revealed=revealed
    )
    if not form.is_valid():
        return render(request, "search/case_form.html", _form_context(form, **context), status=400)
    try:
        updated = intake.case_update(
            origin=origin_of(request),
            case=case,
            data=form.service_input(),
            expected_version=form.cleaned_data["version"],
        )
    except intake.EditConflict as conflict:
        current = conflict.current
        mine = form.service_values()
        if revealed:
            # The other person's values of the sensitive fields are shown again: a new view.
            intake.case_record_sensitive_view(
                origin=origin_of(request), case=current, groups=revealed
            )
        differences = [
            {
                "label": form.fields[name].label if name in form.fields else name,
                "mine": mine.get(name),
                "theirs": getattr(current, name),
            }
            for name in form.changed_data
            if name in mine and mine.get(name) != getattr(current, name)
        ]
        # The next save is made knowingly on top of the newer version.
        data = request.POST.copy()
        data["version"] = current.version
        retry = CaseEditForm(data, instance=current, revealed=revealed)
        retry.is_valid()
        return render(
            request,
            "search/case_form.html",
            _form_context(retry, **context, conflict=differences) | {"case": current},
            status=409,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(request, "search/case_form.html", _form_context(form, **context), status=400)
    messages.success(request, _("Changes saved."))
    return redirect("case_detail", pk=updated.pk)


def _action(request, pk: int, form_class, call):
    """Run one case action from a POSTed form; errors come back on the case page."""
    case = visible_case(request, pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            call(case, form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            return redirect("case_detail", pk=case.pk)
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    context = _detail_context(request, case, set())
    return render(request, "search/case_detail.html", context, status=400)


@login_required
@require_POST
def case_override_priority(request, pk: int):
    require(permissions.can_override_priority(request.user))
    return _action(
        request,
        pk,
        PriorityOverrideForm,
        lambda case, d: intake.case_override_priority(
            origin=origin_of(request), case=case, priority=d["priority"], reason=d["reason"]
        ),
    )


@login_required
@require_POST
def case_withdraw(request, pk: int):
    require(permissions.can_withdraw_case(request.user))
    return _action(
        request,
        pk,
        WithdrawForm,
        lambda case, d: lifecycle.case_withdraw(
            origin=origin_of(request), case=case, reason=d["reason"]
        ),
    )


@login_required
@require_POST
def case_close(request, pk: int):
    require(permissions.can_close_case(request.user))
    return _action(
        request,
        pk,
        CloseForm,
        lambda case, d: lifecycle.case_close(
            origin=origin_of(request), case=case, outcome=d["outcome"], note=d["note"]
        ),
    )


@login_required
@require_POST
def crisis_contact(request, pk: int):
    require(permissions.can_work_crisis_desk(request.user))
    return _action(
        request,
        pk,
        CrisisContactForm,
        lambda case, d: crisis.crisis_contact_record(
            origin=origin_of(request),
            case=case,
            channel=d["channel"],
            result=d["result"],
            note=d["note"],
        ),
    )


@login_required
@require_safe
def case_photo(request, pk: int):
    """Serve the subject's photo to those who may see the case, never from a public URL."""
    case = visible_case(request, pk)
    if not case.photo:
        raise Http404
    response = FileResponse(case.photo.open("rb"))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def crisis_desk(request):
    require(permissions.can_work_crisis_desk(request.user))
    return render(request, "search/crisis_desk.html", {"cases": crisis_queue(request.user)})
