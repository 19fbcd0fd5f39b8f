"""Publishing a public alert from the case page: choose what the public may see, preview exactly
that, publish (or update), end. Coordinators only, as for steering the search."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from search import cap
from search.forms import PublicAlertEndForm, PublicAlertForm
from search.models import Case, PublicAlert
from search.services import public
from search.views.cases import origin_of, public_links, steered_case

# The form's text fields; any other key of the service's errors (clearance) is about the whole.
TEXT_ERROR_FIELDS = set(PublicAlertForm.TEXTS)


def _active_alert(case: Case) -> PublicAlert | None:
    return case.public_alerts.active().first()


def _errors_onto(form: PublicAlertForm, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        form.add_error(key if key in TEXT_ERROR_FIELDS else None, errors)


def _initial(case: Case, alert: PublicAlert | None) -> dict:
    texts = public.default_texts(case)
    if alert is None:
        return PublicAlertForm.initial_for(clearance=[], texts=texts)
    texts.update({key: alert.content[key] for key in PublicAlertForm.TEXTS if key in alert.content})
    return PublicAlertForm.initial_for(clearance=alert.clearance, texts=texts) | {
        "version": alert.version
    }


def _render_form(request, case, alert, form, *, status: int = 200):
    context = {"case": case, "alert": alert, "form": form, "closed": not case.is_open}
    return render(request, "search/alert_form.html", context, status=status)


def _carried(form: PublicAlertForm) -> list[tuple[str, object]]:
    """Return the choices as hidden (name, value) pairs, for the preview's publish form."""
    carried = []
    for name, value in form.cleaned_data.items():
        if value in (None, "", False):
            continue
        carried.append((name, "on" if value is True else value))
    return carried


def _publish(request, case: Case, alert: PublicAlert | None, form: PublicAlertForm):
    draft = form.draft()
    origin = origin_of(request)
    if alert is None:
        alert = public.alert_publish(origin=origin, case=case, draft=draft)
        done = _("The public alert is published.")
    else:
        public.alert_update(
            origin=origin,
            alert=alert,
            draft=draft,
            # No version sent: the form was not made from this alert, so it is not current.
            expected_version=form.cleaned_data.get("version") or 0,
        )
        alert.refresh_from_db()
        done = _("The public alert is updated.")
    page = public_links(alert)["page"]
    if page:
        label = _("Public page:")
        done = f"{done} {label} {request.build_absolute_uri(page)}"
    messages.success(request, done)
    return redirect("case_detail", pk=case.pk)


@login_required
def alert_edit(request, pk: int):
    case = steered_case(request, pk)
    alert = _active_alert(case)
    if request.method != "POST":
        form = PublicAlertForm(initial=_initial(case, alert), case=case)
        return _render_form(request, case, alert, form)
    form = PublicAlertForm(request.POST, case=case)
    if not case.is_open:
        return _render_form(request, case, alert, form, status=400)
    if not form.is_valid():
        return _render_form(request, case, alert, form, status=400)
    if "edit" in request.POST:
        return _render_form(request, case, alert, form)
    try:
        if "publish" in request.POST:
            return _publish(request, case, alert, form)
        content = public.content_build(case, form.draft(), now=timezone.now())
    except ValidationError as exc:
        _errors_onto(form, exc)
        return _render_form(request, case, alert, form, status=400)
    context = {
        "case": case,
        "alert": alert,
        "rows": cap.display_rows(content, with_place=True),
        "headline": cap.headline_of(content),
        "photo": "photo" in form.draft().clearance,
        "carried": _carried(form),
    }
    return render(request, "search/alert_preview.html", context)


@login_required
@require_POST
def alert_end(request, pk: int):
    case = steered_case(request, pk)
    alert = _active_alert(case)
    form = PublicAlertEndForm(request.POST)
    if alert is None:
        messages.error(request, _("The case has no active public alert."))
    elif not form.is_valid():
        messages.error(request, _("Say whether the person was found or the alert is withdrawn."))
    else:
        try:
            public.alert_end(
                origin=origin_of(request),
                alert=alert,
                found=form.cleaned_data["outcome"] == "found",
                expected_version=form.cleaned_data["version"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The public alert is ended."))
    return redirect("case_detail", pk=case.pk)
