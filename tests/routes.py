"""Every route of the URL conf, with its parameters filled from a set of known objects.

Tests that must cover every page and API answer (who may see what, where sensitive values
appear) walk this list instead of a hand-made one, so a new route cannot slip past them.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

from django.urls import URLPattern, URLResolver, get_resolver

# A route whose parameters are not ours to fill (Django's own, or format suffixes of DRF that
# answer exactly as the plain route does).
SKIPPED = re.compile(r"^\^?(admin/|i18n/|static/|media/)|\(\?P<format>|<drf_format_suffix")


@dataclass(frozen=True)
class Route:
    pattern: str  # as written in the URL conf, e.g. "cases/<int:pk>/"
    name: str | None

    def fill(self, values: dict[str, object]) -> str:
        """Return the path with every parameter replaced by its value from `values`."""
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.pattern)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), path)
        return "/" + path.lstrip("^").rstrip("$")

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.pattern) + re.findall(
            r"\(\?P<(\w+)>", self.pattern
        )


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield Route(prefix + str(entry.pattern), entry.name)


def all_routes() -> list[Route]:
    """Return every route Beacon itself serves (the admin is covered by its own rows)."""
    return [r for r in _walk(get_resolver().url_patterns) if not SKIPPED.search(r.pattern)]


def _tiny_jpeg():
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, format="JPEG")
    return SimpleUploadedFile("clue.jpg", out.getvalue(), content_type="image/jpeg")


def objects_behind_every_route(case, *, coordinator, field_user) -> dict[str, object]:
    """Give the case what every route can name (a task for the field user's unit, a clue, an
    alert, a request to the partner HS) and return the values that fill the routes' parameters.
    The demo world must be seeded."""
    from accounts.models import Partner, Unit
    from search.services import areas, field, offers
    from search.services.aid import desk
    from search.services.timeline import Origin

    unit = Unit.objects.filter(members=field_user).first()
    areas.dispatch_case(case_id=case.pk)
    task = case.tasks.filter(unit=unit).first() or offers.sector_reassign(
        origin=Origin(actor=coordinator),
        sector=case.sectors.filter(outside_jurisdiction=False).first(),
        unit=unit,
    )
    sighting = field.sighting_record(
        origin=Origin(actor=field_user),
        case=case,
        kind="clue",
        point=unit.last_position,
        seen_at=case.last_seen_at,
        description="a shoe",
        unit=unit,
        photo=_tiny_jpeg(),  # so that the sighting's photo route has something to serve
    )
    Partner.objects.filter(organisation__code="HS").update(
        signing_secret="s" * 32, outbound_api_key="key-they-gave-us"
    )
    aid = desk.aid_request_send(
        origin=Origin(actor=coordinator),
        case=case,
        partner=Partner.objects.get(organisation__code="HS"),
        reason="border",
    )
    from accounts.models import User
    from search.services import interchange, supervision

    interchange.pfif_import(
        origin=Origin(actor=coordinator),
        organisation=case.organisation,
        data=(
            b'<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>'
            b"<pfif:person_record_id>routes.example/1</pfif:person_record_id>"
            b"<pfif:source_date>2026-11-01T10:00:00Z</pfif:source_date>"
            b"<pfif:full_name>Route Walker</pfif:full_name></pfif:person></pfif:pfif>"
        ),
    )
    supervisor = User.objects.get(username="supervisor")
    order = supervision.order_issue(
        origin=Origin(actor=supervisor),
        case=case,
        instruction="Widen the area to the canal.",
        deadline=case.created_at + timedelta(days=1),
        desk=supervisor.organisation,
    )
    from search.services import public

    alert = public.alert_publish(
        origin=Origin(actor=coordinator),
        case=case,
        draft=public.AlertDraft(
            clearance=["photo", "given_name"] if case.photo else ["given_name"]
        ),
    )
    return {
        "identifier": alert.identifier,
        "order_id": order.pk,
        "draft_id": case.organisation.draft_reports.get().pk,
        "action": "acknowledge",
        "pk": case.pk,
        "id": case.pk,
        "task_id": task.pk,
        "sighting_id": sighting.pk,
        "alert_id": case.alerts.first().pk,
        "uid": aid.uid,
        "request_id": aid.uid,
    }
