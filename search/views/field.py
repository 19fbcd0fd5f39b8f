"""The field app (/field/): a phone, a thumb, a weak connection.

Pages render on the server and work without JavaScript; with it, actions go through a queue on
the phone (IndexedDB) and are replayed when the connection returns. Every action carries an id
made on the phone, so the server applies it once whatever the number of replays.
"""

import hashlib
import uuid
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.models import Role, Unit
from config.client_ip import client_ip
from search.choices import EventSource, FoundCondition, SightingKind
from search.geo import SRID, distance_and_bearing
from search.models import Task
from search.photos import MAX_PHOTO_BYTES
from search.selectors import member_units, task_of_member, tasks_of_member
from search.services import field
from search.services.timeline import Origin
from search.validators import as_utc, parse_id

SERVICE_WORKER = "js/field-sw.js"


def require_field(request) -> None:
    if not request.user.has_role(Role.FIELD):
        raise PermissionDenied


def field_origin(request) -> Origin:
    return Origin(actor=request.user, source=EventSource.WEB, ip=client_ip(request))


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


def _number(value, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError({name: _("Enter a number.")}) from None


def _point(data) -> Point:
    lat, lon = _number(data.get("lat"), "lat"), _number(data.get("lon"), "lon")
    if lat is None or lon is None:
        raise ValidationError(
            {"lat": _("Give the place: use the phone's position or tap the map.")}
        )
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationError(
            {"lat": _("A position has latitude -90..90 and longitude -180..180.")}
        )
    return Point(lon, lat, srid=SRID)


def _when(data) -> datetime:
    raw = (data.get("seen_at") or "").strip()
    if not raw:
        return timezone.now()
    try:
        # parse_datetime answers None for a wrong shape and raises for a right shape with
        # impossible values (month 13, hour 99, an offset of 22 hours).
        parsed = parse_datetime(raw)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        raise ValidationError({"seen_at": _("Give the time as YYYY-MM-DDTHH:MM.")})
    return as_utc(parsed, field="seen_at")


def _unit_for(request, data) -> Unit:
    units = member_units(request.user)
    if data.get("unit"):
        unit_id = parse_id(data.get("unit"))
        unit = units.filter(pk=unit_id).first() if unit_id else None
    else:
        unit = units.first()
    if unit is None:
        raise Http404
    return unit


TASK_KINDS = {"accept", "decline", "start", "finish", "report", "found"}


def _runner(request, kind: str, data, files, task: Task | None):
    """Return the function that performs this action, reading its fields."""
    origin = field_origin(request)
    photo = files.get("photo")
    if photo is not None and photo.size > MAX_PHOTO_BYTES:
        raise ValidationError({"photo": _("The photo is larger than 10 MB; send a smaller one.")})

    def message(text: str) -> dict:
        return {"message": text, "task": task.pk if task else None}

    if kind == "accept":
        return lambda: (field.task_accept(origin=origin, task=task), message(_("Accepted.")))[1]
    if kind == "decline":
        return lambda: (
            field.task_decline(origin=origin, task=task, reason=data.get("reason", "")),
            message(_("Declined: the sector goes to another unit.")),
        )[1]
    if kind == "start":
        return lambda: (field.task_start(origin=origin, task=task), message(_("Started.")))[1]
    if kind == "finish":
        coverage = _number(data.get("coverage"), "coverage")
        if coverage is None:
            raise ValidationError({"coverage": _("Say how much of the sector was searched.")})
        return lambda: (
            field.task_finish(
                origin=origin,
                task=task,
                coverage=coverage / 100,
                note=data.get("note", ""),
                needs_research=data.get("needs_research") in ("on", "true", "1"),
            ),
            message(_("Finished. Thank you.")),
        )[1]
    if kind == "report":
        point, seen_at = _point(data), _when(data)
        report_kind = data.get("report_kind", "clue")
        if report_kind not in (SightingKind.SIGHTING, SightingKind.CLUE):
            raise ValidationError({"report_kind": _("Choose sighting or clue.")})

        def run():
            sighting = field.sighting_record(
                origin=origin,
                case=task.case,
                kind=report_kind,
                point=point,
                seen_at=seen_at,
                description=data.get("description", ""),
                source=task.unit.name,
                confidence=data.get("confidence") or "possible",
                unit=task.unit,
                photo=photo,
            )
            return {**message(_("Report received.")), "sighting": sighting.pk}

        return run
    if kind == "found":
        point, seen_at = _point(data), _when(data)

        def run():
            found = field.found_report(
                origin=origin,
                case=task.case,
                point=point,
                seen_at=seen_at,
                condition=data.get("condition", ""),
                with_whom=data.get("with_whom", ""),
                description=data.get("description", ""),
                unit=task.unit,
            )
            return {**message(_("Found report sent to the coordinator.")), "sighting": found.pk}

        return run
    if kind == "position":
        unit = _unit_for(request, data)
        lat, lon = _number(data.get("lat"), "lat"), _number(data.get("lon"), "lon")
        if lat is None or lon is None:
            raise ValidationError({"lat": _("No position.")})
        accuracy = _number(data.get("accuracy"), "accuracy")
        return lambda: (
            field.position_share(origin=origin, unit=unit, lat=lat, lon=lon, accuracy_m=accuracy),
            {"message": _("Position shared.")},
        )[1]
    if kind == "availability":
        unit = _unit_for(request, data)
        return lambda: (
            field.unit_set_availability(
                origin=origin, unit=unit, availability=data.get("availability", "")
            ),
            {"message": _("Availability changed.")},
        )[1]
    raise ValidationError({"kind": _("Unknown action.")})


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


def _answer(request, status: int, body: dict, back: str):
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(body, status=status)
    if body.get("ok"):
        messages.success(request, body.get("message", _("Done.")))
    else:
        messages.error(request, body.get("error", _("Not done.")))
    return redirect(back)


@login_required
@require_POST
def field_action(request):
    """Apply one action from the phone (form or queued replay), once per client id."""
    require_field(request)
    data, files = request.POST, request.FILES
    kind = data.get("kind", "")
    back = "/field/"
    try:
        client_id = uuid.UUID(data.get("client_id", ""))
    except ValueError:
        return _answer(
            request,
            400,
            {
                "ok": False,
                "error": _("The action has no valid id."),
                "fields": {"client_id": [_("Required: a UUID made on the phone.")]},
            },
            back,
        )
    # Django's forms refuse NUL characters; these fields are read by hand, so refuse them here.
    with_nul = sorted(name for name, values in data.lists() if any("\x00" in v for v in values))
    if with_nul:
        error = _("Null characters are not allowed.")
        return _answer(
            request,
            400,
            {"ok": False, "error": error, "fields": {name: [error] for name in with_nul}},
            back,
        )
    task = None
    if kind in TASK_KINDS:
        task_id = parse_id(data.get("task"))
        task = task_of_member(request.user, task_id) if task_id else None
        if task is None:
            return _answer(
                request, 404, {"ok": False, "error": _("No such task for your unit.")}, back
            )
        back = f"/field/tasks/{task.pk}/"
    try:
        run = _runner(request, kind, data, files, task)
    except ValidationError as exc:
        return _answer(
            request,
            400,
            {
                "ok": False,
                "error": " ".join(exc.messages),
                "fields": getattr(exc, "message_dict", {}),
            },
            back,
        )
    try:
        status, body = field.field_action_apply(
            user=request.user,
            client_id=client_id,
            kind=kind,
            body=_body_for_hash(data, files),
            run=run,
        )
    except field.ReplayConflict:
        status, body = (
            409,
            {
                "ok": False,
                "error": _(
                    "This action id was already used for a different action; nothing was changed."
                ),
            },
        )
    return _answer(request, status, body, back)
