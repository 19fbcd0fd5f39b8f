"""The field app (/field/): a phone, a thumb, a weak connection.

Pages render on the server and work without JavaScript; with it, actions go through a queue on
the phone (IndexedDB) and are replayed when the connection returns. Every action carries an id
made on the phone, so the server applies it once whatever the number of replays.
"""

import hashlib
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.models import Role, Unit
from search.choices import FoundCondition, SightingKind
from search.forms import (
    NUL_REFUSED,
    AvailabilityForm,
    FieldActionForm,
    FoundReportForm,
    PositionShareForm,
    SightingReportForm,
    TaskAcceptForm,
    TaskActionForm,
    TaskDeclineForm,
    TaskFinishForm,
    TaskStartForm,
    UnitActionForm,
)
from search.geo import distance_and_bearing
from search.models import Task
from search.selectors import member_units, task_of_member, tasks_of_member
from search.services import field
from search.services.timeline import Origin

SERVICE_WORKER = "js/field-sw.js"


def require_field(request) -> None:
    if not request.user.has_role(Role.FIELD):
        raise PermissionDenied


def _task_row(task: Task) -> dict:
    row = {"task": task, "distance_m": None, "direction": ""}
    unit_at = task.unit.last_position
    if unit_at is not None:
        metres, compass = distance_and_bearing(
            from_lat=unit_at.y,
            from_lon=unit_at.x,
            to_lat=task.sector.centroid.y,
            to_lon=task.sector.centroid.x,
        )
        row.update(distance_m=round(metres), direction=compass)
    case = task.case
    row["age"] = case.age_on(timezone.localdate())
    return row


@never_cache
@login_required
@require_safe
def field_home(request):
    """My tasks: offers first with their countdown, then accepted and running ones."""
    require_field(request)
    rows = [_task_row(t) for t in tasks_of_member(request.user)]
    return render(
        request,
        "field/home.html",
        {
            "rows": rows,
            "units": member_units(request.user),
            "now": timezone.now(),
            "availability": Unit.Availability.choices,
            "client_id": uuid.uuid4(),
        },
    )


@never_cache
@login_required
@require_safe
def field_task(request, task_id: int):
    """One task: the sector on a map, the actions its state allows, and the report forms."""
    require_field(request)
    task = task_of_member(request.user, task_id)
    if task is None:
        raise Http404
    sector = task.sector
    ring = [[lat, lon] for lon, lat in sector.boundary.exterior_ring.coords]
    unit_at = task.unit.last_position
    return render(
        request,
        "field/task.html",
        {
            "row": _task_row(task),
            "task": task,
            "case": task.case,
            "map_data": {
                "sector": ring,
                "unit": [unit_at.y, unit_at.x] if unit_at else None,
                "centre": [sector.centroid.y, sector.centroid.x],
            },
            "kinds": [(k, label) for k, label in SightingKind.choices if k != SightingKind.FOUND],
            "conditions": FoundCondition.choices,
            "confidences": [
                ("plausible", _("Plausible")),
                ("possible", _("Possible")),
                ("unlikely", _("Unlikely")),
            ],
            "now_local": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "ids": {
                name: uuid.uuid4()
                for name in ("accept", "decline", "start", "finish", "report", "found")
            },
        },
    )


@login_required
@require_safe
def field_task_photo(request, task_id: int):
    """The subject's photo, for members of a unit holding a task on the case."""
    require_field(request)
    task = task_of_member(request.user, task_id)
    if task is None or not task.case.photo:
        raise Http404
    response = FileResponse(task.case.photo.open("rb"))
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
def service_worker(request):
    """Serve the service worker from /field/ so that its scope is the field app."""
    from django.contrib.staticfiles import finders

    path = finders.find(SERVICE_WORKER)
    with open(path, "rb") as source:
        response = HttpResponse(source.read(), content_type="text/javascript")
    response["Cache-Control"] = "no-cache"
    return response


# The form that reads each action; any other kind is read by FieldActionForm, then refused.
ACTION_FORMS = {
    "accept": TaskAcceptForm,
    "decline": TaskDeclineForm,
    "start": TaskStartForm,
    "finish": TaskFinishForm,
    "report": SightingReportForm,
    "found": FoundReportForm,
    "position": PositionShareForm,
    "availability": AvailabilityForm,
}


def _unit_for(request, form: UnitActionForm) -> Unit:
    # Something that is no id names none of their units: 404, as for another team's unit.
    if "unit" in form.errors:
        raise Http404
    unit_id = form.cleaned_data.get("unit")
    units = member_units(request.user)
    unit = units.filter(pk=unit_id).first() if unit_id else units.first()
    if unit is None:
        raise Http404
    return unit


def _perform(kind: str, *, origin: Origin, task: Task | None, unit: Unit | None, values: dict):
    """Call the one service the action names and return what the phone is told."""

    def told(text: str) -> dict:
        return {"message": text, "task": task.pk if task else None}

    if kind == "accept":
        field.task_accept(origin=origin, task=task)
        return told(_("Accepted."))
    if kind == "decline":
        field.task_decline(origin=origin, task=task, reason=values["reason"])
        return told(_("Declined: the sector goes to another unit."))
    if kind == "start":
        field.task_start(origin=origin, task=task)
        return told(_("Started."))
    if kind == "finish":
        field.task_finish(
            origin=origin,
            task=task,
            coverage=values["coverage"],
            note=values["note"],
            needs_research=values["needs_research"],
        )
        return told(_("Finished. Thank you."))
    if kind == "report":
        sighting = field.sighting_record(
            origin=origin,
            case=task.case,
            kind=values["report_kind"],
            point=values["point"],
            seen_at=values["seen_at"],
            description=values["description"],
            source=task.unit.name,
            confidence=values["confidence"],
            unit=task.unit,
            photo=values["photo"],
        )
        return {**told(_("Report received.")), "sighting": sighting.pk}
    if kind == "found":
        found = field.found_report(
            origin=origin,
            case=task.case,
            point=values["point"],
            seen_at=values["seen_at"],
            condition=values["condition"],
            with_whom=values["with_whom"],
            description=values["description"],
            unit=task.unit,
        )
        return {**told(_("Found report sent to the coordinator.")), "sighting": found.pk}
    if kind == "availability":
        field.unit_set_availability(origin=origin, unit=unit, availability=values["availability"])
        return {"message": _("Availability changed.")}
    raise ValueError(f"no service for the field action {kind!r}")


def _body_for_hash(data, files) -> dict:
    body = {k: v for k, v in data.items() if k not in ("csrfmiddlewaretoken", "client_id")}
    photo = files.get("photo")
    if photo is not None:
        digest = hashlib.sha256()
        for chunk in photo.chunks():
            digest.update(chunk)
        photo.seek(0)
        body["photo_sha256"] = digest.hexdigest()
    return body


def _messages(form) -> dict[str, list[str]]:
    """Return the form's errors as {field: [message, ...]}, the shape the phone reads."""
    return ValidationError(form.errors.as_data()).message_dict


def _answer(request, status: int, body: dict, back: str):
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(body, status=status)
    if body.get("ok"):
        messages.success(request, body.get("message", _("Done.")))
    else:
        messages.error(request, body.get("error", _("Not done.")))
    return redirect(back)


REPLAY_CONFLICT = gettext_lazy(
    "This action id was already used for a different action; nothing was changed."
)


def _position(request, form: PositionShareForm):
    """Share the unit's position: one statement, no remembered answer, no timeline event.

    Positions are the phone's most frequent request and never queued for replay, so they skip
    field_action_apply: the track row's unique client id is what makes a repeat land once.
    """
    values = form.cleaned_data
    try:
        shared = field.position_share(
            origin=Origin.from_request(request),
            unit_id=values["unit"],
            client_id=values["client_id"],
            lat=values["lat"],
            lon=values["lon"],
            accuracy_m=values["accuracy"],
        )
    except PermissionDenied:
        raise Http404 from None  # none of their units, as _unit_for answers
    except ValidationError as exc:
        _unit_for(request, form)  # a unit not theirs is a 404 before any field error
        fields = exc.message_dict
        body = {"ok": False, "error": " ".join(exc.messages), "fields": fields}
        return _answer(request, 400, body, "/field/")
    except field.ReplayConflict:
        return _answer(request, 409, {"ok": False, "error": str(REPLAY_CONFLICT)}, "/field/")
    body = {"ok": True, "message": _("Position shared.")}
    if shared.replayed:
        body["replayed"] = True
    return _answer(request, 200, body, "/field/")


@login_required
@require_POST
def field_action(request):
    """Apply one action from the phone (form or queued replay), once per client id."""
    require_field(request)
    # Refusals come in the order the phone has always had them: no valid id, then a NUL in any
    # value (400), then a task or unit that is not theirs (404), then the form's field errors
    # (400); none of these is remembered for the id. The service's own refusals (409, 403, 400)
    # come back through field_action_apply, which remembers them like a success.
    kind = request.POST.get("kind", "")
    form = ACTION_FORMS.get(kind, FieldActionForm)(request.POST, request.FILES)
    valid = form.is_valid()
    back = "/field/"
    if "client_id" in form.errors:
        return _answer(
            request,
            400,
            {
                "ok": False,
                "error": _("The action has no valid id."),
                "fields": {"client_id": _messages(form)["client_id"]},
            },
            back,
        )
    if form.fields_with_nul:
        error = str(NUL_REFUSED)
        return _answer(
            request,
            400,
            {"ok": False, "error": error, "fields": {n: [error] for n in form.fields_with_nul}},
            back,
        )
    if kind == "position" and valid:
        return _position(request, form)
    task = unit = None
    if isinstance(form, TaskActionForm):
        task_id = form.cleaned_data.get("task")
        task = task_of_member(request.user, task_id) if task_id else None
        if task is None:
            return _answer(
                request, 404, {"ok": False, "error": _("No such task for your unit.")}, back
            )
        back = f"/field/tasks/{task.pk}/"
    if isinstance(form, UnitActionForm):
        unit = _unit_for(request, form)
    if not valid:
        fields = _messages(form)
        return _answer(
            request,
            400,
            {
                "ok": False,
                "error": " ".join(m for ms in fields.values() for m in ms),
                "fields": fields,
            },
            back,
        )
    if kind not in ACTION_FORMS:
        error = _("Unknown action.")
        return _answer(
            request, 400, {"ok": False, "error": error, "fields": {"kind": [error]}}, back
        )
    origin, values = Origin.from_request(request), form.cleaned_data
    try:
        status, body = field.field_action_apply(
            user=request.user,
            client_id=values["client_id"],
            kind=kind,
            body=_body_for_hash(request.POST, request.FILES),
            run=lambda: _perform(kind, origin=origin, task=task, unit=unit, values=values),
        )
    except field.ReplayConflict:
        status, body = (
            409,
            {
                "ok": False,
                "error": str(REPLAY_CONFLICT),
            },
        )
    return _answer(request, status, body, back)
