"""The coordinator's map of a case: area versions, sectors, units, the offer queue, actions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from accounts.models import Unit
from accounts.selectors import organisation_family_ids
from search import permissions
from search.choices import SectorStatus
from search.forms import AreaDrawForm, PauseForm, ReassignForm
from search.geo import geometry_from_geojson
from search.models import Sighting
from search.models.tasks import OPEN_TASK_STATUSES
from search.selectors import current_sectors, tips_to_triage, waiting_sectors
from search.services import alerts, areas, offers, policy, public
from search.validators import json_parse
from search.views.cases import origin_of, require, steered_case, visible_case

STATUS_COLOURS = {
    SectorStatus.UNASSIGNED: "#8c959f",
    SectorStatus.OFFERED: "#d4a72c",
    SectorStatus.ASSIGNED: "#0969da",
    SectorStatus.IN_PROGRESS: "#8250df",
    SectorStatus.SEARCHED: "#1a7f37",
    SectorStatus.NEEDS_RESEARCH: "#cf222e",
}
QUEUE_SHOWN = 15
# Sightings drawn on the map (newest first): more than a search ever gets, a bound all the same.
SIGHTINGS_DRAWN = 200
TIPS_SHOWN = 50


def _sighting_points(case) -> list[dict]:
    """Return the case's sightings as map points; the public's are flagged to be told apart."""
    rows = case.sightings.only(
        "pk", "point", "kind", "seen_at", "confirmed_at", "public_alert_id", "description"
    ).order_by("-seen_at", "-pk")[:SIGHTINGS_DRAWN]
    return [
        {
            "id": s.pk,
            "lat": s.point.y,
            "lon": s.point.x,
            "kind": s.get_kind_display(),
            "at": timezone.localtime(s.seen_at).strftime("%Y-%m-%d %H:%M"),
            "public": s.is_public_tip,
            "confirmed": s.confirmed_at is not None,
            "text": s.description[:80],
        }
        for s in rows
    ]


def _tip_rows(case) -> list[dict]:
    """Return the public tips still to triage, with the tipster's phone: for coordinators only
    (the phone is a member of the public's, and reaches no other page nor the API)."""
    return [
        {
            "id": s.pk,
            "at": timezone.localtime(s.seen_at).strftime("%Y-%m-%d %H:%M"),
            "received": timezone.localtime(s.created_at).strftime("%H:%M"),
            "description": s.description,
            "source": s.source,
            "phone": s.tip_phone,
            "lat": s.point.y,
            "lon": s.point.x,
            "photo_url": reverse("sighting_photo", args=[case.pk, s.pk]) if s.photo else "",
            "confirm_url": reverse("sighting_confirm", args=[case.pk, s.pk]),
        }
        for s in tips_to_triage(case)[:TIPS_SHOWN]
    ]


def _cansteered_case(request, case) -> bool:
    return case.is_open and permissions.can_override_priority(request.user)


@login_required
@require_safe
def case_map(request, pk: int):
    require(permissions.can_read_cases(request.user))
    case = visible_case(request, pk)
    areas = list(case.areas.order_by("-version"))
    current = next((a for a in areas if a.is_current), None)
    family = organisation_family_ids(case.organisation)
    units = (
        Unit.objects.filter(organisation_id__in=family, last_position__isnull=False)
        .annotate(open_tasks=Count("tasks", filter=Q(tasks__status__in=OPEN_TASK_STATUSES)))
        .order_by("name")
    )
    unit_points = [
        {
            "name": u.name,
            "lat": u.last_position.y,
            "lon": u.last_position.x,
            "availability": u.get_availability_display(),
            "open": u.open_tasks,
        }
        for u in units
    ]
    waiting = waiting_sectors().filter(case=case)
    open_tasks = list(
        case.tasks.filter(status__in=OPEN_TASK_STATUSES)
        .select_related("unit", "sector")
        .order_by("-sector__weight")
    )
    for task in open_tasks:
        task.why = policy.basis_text(task.basis)
    queue = list(
        current_sectors(case)
        .filter(pk__in=waiting.values("pk"))
        .order_by(F("probability").desc(nulls_last=True), "-weight", "id")[:QUEUE_SHOWN]
    )
    for sector in queue:
        sector.percent = 100 * (sector.probability or 0)
    can_steer = _cansteered_case(request, case)
    context = {
        "case": case,
        "areas": areas,
        "current": current,
        "map_data": {
            "sectors_url": f"/api/v1/cases/{case.pk}/sectors/",
            "centre": [current.centre.y, current.centre.x]
            if current
            else [case.last_seen_point.y, case.last_seen_point.x],
            "radii": current.radii_m if current else [],
            "units": unit_points,
            "colours": {str(k): v for k, v in STATUS_COLOURS.items()},
            "sightings": _sighting_points(case),
            # Polled, so that a tip from the public shows within seconds.
            "sightings_url": reverse("case_sightings", args=[case.pk]),
            "triage": can_steer,
        },
        "status_colours": [(SectorStatus(k).label, v) for k, v in STATUS_COLOURS.items()],
        "waiting_count": waiting.count(),
        "queue": queue,
        "open_tasks": open_tasks,
        "alerts": case.alerts.filter(acknowledged_at__isnull=True).select_related("task")[:30],
        "sightings": case.sightings.order_by("-seen_at")[:20],
        "tips": _tip_rows(case) if can_steer else [],
        "units": units,
        "can_steer": can_steer,
        "now": timezone.now(),
    }
    return render(request, "search/case_map.html", context)


@login_required
@require_safe
def case_sightings(request, pk: int):
    """The map's sightings and, for coordinators, the tips to triage: what the map polls."""
    require(permissions.can_read_cases(request.user))
    case = visible_case(request, pk)
    data = {
        "sightings": _sighting_points(case),
        "tips": _tip_rows(case) if _cansteered_case(request, case) else [],
    }
    response = JsonResponse(data)
    response["Cache-Control"] = "private, no-store"
    return response


def _done(request, case, error: ValidationError | None = None):
    if error is not None:
        messages.error(request, " ".join(error.messages))
    return redirect("case_map", pk=case.pk)


def _form_error(form) -> ValidationError:
    return ValidationError([message for errors in form.errors.values() for message in errors])


@login_required
@require_POST
def case_pause(request, pk: int):
    case = steered_case(request, pk)
    form = PauseForm(request.POST)
    if not form.is_valid():
        return _done(request, case, _form_error(form))
    paused = form.cleaned_data["paused"]
    offers.search_pause(
        origin=origin_of(request), case=case, paused=paused, reason=form.cleaned_data["reason"]
    )
    messages.success(request, _("Search paused.") if paused else _("Search resumed."))
    return _done(request, case)


@login_required
@require_POST
def sector_reassign(request, pk: int):
    case = steered_case(request, pk)
    form = ReassignForm(request.POST)
    sector = unit = None
    if form.is_valid():
        sector = case.sectors.filter(h3_index=form.cleaned_data["sector"]).first()
        unit = Unit.objects.filter(pk=form.cleaned_data["unit"]).first()
    if sector is None or unit is None:
        return _done(request, case, ValidationError(_("Choose a sector of this case and a unit.")))
    try:
        offers.sector_reassign(origin=origin_of(request), sector=sector, unit=unit)
    except ValidationError as exc:
        return _done(request, case, exc)
    messages.success(request, _("Sector offered to %(unit)s.") % {"unit": unit.name})
    return _done(request, case)


@login_required
@require_POST
def sighting_confirm(request, pk: int, sighting_id: int):
    case = steered_case(request, pk)
    sighting = get_object_or_404(Sighting, pk=sighting_id, case=case)
    # Through public: a confirmed tip from the public is then shared with the partners too.
    if public.sighting_confirm(origin=origin_of(request), sighting=sighting):
        messages.success(request, _("Sighting confirmed: the search area is re-centred on it."))
    return _done(request, case)


@login_required
@require_safe
def sighting_photo(request, pk: int, sighting_id: int):
    """Serve a sighting's photo (a tip's may show bystanders) to coordinators, never publicly."""
    case = steered_case(request, pk)
    sighting = get_object_or_404(Sighting, pk=sighting_id, case=case)
    if not sighting.photo:
        raise Http404
    response = FileResponse(sighting.photo.open("rb"))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def area_draw(request, pk: int):
    case = steered_case(request, pk)
    form = AreaDrawForm(request.POST)
    if not form.is_valid():
        return _done(request, case, ValidationError(_("Draw the area on the map first.")))
    try:
        geojson = json_parse(form.cleaned_data["area"])
    except ValueError:
        return _done(request, case, ValidationError(_("Draw the area on the map first.")))
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    try:
        polygon = geometry_from_geojson(geojson, kinds=("Polygon",))
    except ValidationError as exc:
        return _done(request, case, exc)
    try:
        areas.area_draw(
            origin=origin_of(request), case=case, polygon=polygon, note=form.cleaned_data["note"]
        )
    except ValidationError as exc:
        return _done(request, case, exc)
    messages.success(request, _("The drawn area is now the search area."))
    return _done(request, case)


@login_required
@require_POST
def alert_acknowledge(request, pk: int, alert_id: int):
    case = steered_case(request, pk)
    alerts.alert_acknowledge(case=case, alert_id=alert_id)
    return _done(request, case)
