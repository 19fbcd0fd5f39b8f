"""Pages for importing PFIF documents and turning their drafts into cases."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from search import permissions
from search.choices import DraftStatus
from search.forms import DraftConfirmForm, DuplicateReviewForm, PfifUploadForm
from search.models import DraftReport
from search.selectors import drafts_visible_to
from search.services import interchange
from search.views.cases import duplicates_to_review, origin_of, require

DRAFTS_PER_PAGE = 25


@login_required
def pfif_import(request):
    require(permissions.can_file_cases(request.user))
    if request.method != "POST":
        return render(request, "search/pfif_import.html", {"form": PfifUploadForm()})
    form = PfifUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "search/pfif_import.html", {"form": form}, status=400)
    if request.user.organisation is None:
        form.add_error(None, _("Your account belongs to no organisation."))
        return render(request, "search/pfif_import.html", {"form": form}, status=400)
    try:
        result = interchange.pfif_import(
            origin=origin_of(request),
            organisation=request.user.organisation,
            data=form.cleaned_data["document"].read(),
            source_label=form.cleaned_data["source"],
        )
    except ValidationError as exc:
        form.add_error("document", exc.messages)
        return render(request, "search/pfif_import.html", {"form": form}, status=400)
    return render(request, "search/pfif_import.html", {"form": PfifUploadForm(), "result": result})


@login_required
@require_safe
def draft_list(request):
    require(permissions.can_file_cases(request.user))
    show_all = request.GET.get("status") == "all"
    drafts = drafts_visible_to(request.user).select_related("organisation", "case")
    if not show_all:
        drafts = drafts.pending()
    page = Paginator(drafts.order_by("-updated_at", "-pk"), DRAFTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "search/draft_list.html", {"page": page, "show_all": show_all})


def _visible_draft(request, draft_id: int) -> DraftReport:
    """Return the draft if it is in the user's tree; 404 otherwise, as for cases."""
    require(permissions.can_file_cases(request.user))
    return get_object_or_404(
        drafts_visible_to(request.user).select_related("organisation", "case"), pk=draft_id
    )


def _initial(draft: DraftReport) -> dict:
    values = interchange.draft_case_values(draft)
    return {
        **{key: value for key, value in values.items() if value not in (None, "")},
        "reporter_phone": draft.author_phone,
        "version": draft.version,
    }


def _render(request, draft, form, *, status=200, **extra):
    context = {
        "draft": draft,
        "form": form,
        "notes": sorted(draft.notes, key=lambda n: n.get("source_date", "")),
        "can_confirm": draft.status == DraftStatus.DRAFT,
        **extra,
    }
    return render(request, "search/draft_detail.html", context, status=status)


@login_required
def draft_detail(request, draft_id: int):
    """Show the draft; on POST, check for duplicates as intake does, then confirm it."""
    draft = _visible_draft(request, draft_id)
    if request.method != "POST":
        return _render(request, draft, DraftConfirmForm(initial=_initial(draft)))
    form = DraftConfirmForm(request.POST, request.FILES)
    review = DuplicateReviewForm(request.POST)
    if draft.status != DraftStatus.DRAFT or not form.is_valid():
        if draft.status != DraftStatus.DRAFT:
            form.add_error(None, _("This draft is no longer waiting to be confirmed."))
        return _render(request, draft, form, status=400)
    duplicates, unreviewed = duplicates_to_review(request, form, review)
    if unreviewed:
        return _render(
            request, draft, form, duplicates=duplicates, photo_dropped=bool(request.FILES)
        )
    link_ids = set(review.cleaned_data.get("link_to") or [])
    case_input = form.service_input()
    try:
        case = interchange.draft_confirm(
            origin=origin_of(request),
            draft=draft,
            values=case_input.values,
            photo=case_input.photo,
            confirmed_outside=case_input.confirmed_outside,
            link_to=[c for c in duplicates if c.pk in link_ids],
            expected_version=form.cleaned_data["version"],
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _render(request, draft, form, status=400)
    messages.success(request, _("Case %(ref)s opened.") % {"ref": case.reference})
    return redirect("case_detail", pk=case.pk)


@login_required
@require_POST
def draft_discard(request, draft_id: int):
    draft = _visible_draft(request, draft_id)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = None
    if version is None:
        messages.error(request, _("Discard from the draft's page."))
        return _render(request, draft, DraftConfirmForm(initial=_initial(draft)), status=400)
    try:
        interchange.draft_discard(origin=origin_of(request), draft=draft, expected_version=version)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _render(request, draft, DraftConfirmForm(initial=_initial(draft)), status=400)
    messages.success(request, _("Draft discarded."))
    return redirect("draft_list")
