"""The public side: alert pages, their CAP messages and feed, and the tips people send.

Nothing here signs anyone in or reads a session: pages are rendered without the request's
context (no context processor, so no staff data and no CSRF or session cookie), the language
comes from `?lang=` or the browser, and tips are limited per address and per alert before any
of their body is read.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from config.client_ip import client_ip
from search import cap
from search.choices import CapMsgType, PublicAlertStatus
from search.forms import TipForm
from search.geo import GeocodingError, geocode, make_point
from search.links import public_base_url
from search.models import PublicAlert, PublicAlertMessage
from search.photos import MAX_PHOTO_BYTES
from search.services import public

logger = logging.getLogger(__name__)

PUBLIC_LANGUAGES = {
    "en": "en",
    "en-us": "en",
    "zh": "zh-hans",
    "zh-hans": "zh-hans",
    "zh-cn": "zh-hans",
}
# A tip's whole body: the photo and some room for the fields. Larger is refused unread.
TIP_BODY_MAX = MAX_PHOTO_BYTES + 256 * 1024


def _activate_language(request) -> str:
    asked = (request.GET.get("lang") or "").strip().lower()
    language = PUBLIC_LANGUAGES.get(asked) or translation.get_language_from_request(request)
    language = PUBLIC_LANGUAGES.get(language.lower(), "zh-hans")
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language


def _page(template: str, context: dict, *, status: int = 200) -> HttpResponse:
    # Rendered without the request: no context processor runs, so nothing of a signed-in
    # visitor (their name, the staff menus, a CSRF token) can reach a public page.
    response = HttpResponse(render_to_string(template, context), status=status)
    response["Content-Language"] = translation.get_language()
    return response


def _alert_or_404(identifier: str) -> PublicAlert:
    return get_object_or_404(
        PublicAlert.objects.select_related("case__organisation"), identifier=identifier
    )


def _active_with_messages():
    """Active alerts, newest first, each with its messages in two queries in all."""
    return (
        PublicAlert.objects.active()
        .select_related("case__organisation")
        .prefetch_related("messages")
        .order_by("-published_at")
    )


def _last(alert: PublicAlert) -> PublicAlertMessage | None:
    return max(alert.messages.all(), key=lambda m: m.number, default=None)


def _qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=4, title=_("QR code of this page"))


def _alert_context(request, alert: PublicAlert, language: str, **extra) -> dict:
    page_url = public_base_url(request) + alert.get_absolute_url()
    share_url = f"{page_url}?{urlencode({'lang': language})}"
    last = alert.messages.order_by("-number").first()
    content = alert.content
    seen_at = None
    if content.get("seen_at"):
        from datetime import datetime

        seen_at = datetime.fromisoformat(content["seen_at"])
    other = "en" if language == "zh-hans" else "zh-hans"
    return {
        "alert": alert,
        "active": alert.status == PublicAlertStatus.ACTIVE,
        "found": alert.status == PublicAlertStatus.FOUND,
        "headline": cap.headline(last) if last else "",
        "rows": cap.display_rows(content),
        "place": content.get("place", ""),
        "seen_at": seen_at,
        "phone": content.get("phone", ""),
        "has_photo": "photo" in alert.clearance and bool(alert.photo),
        "radius_km": last.radius_km if last else None,
        "centre": alert.centre,
        "share_url": share_url,
        "qr_svg": _qr_svg(share_url),
        "language": language,
        "other_language": other,
        "other_language_url": f"{alert.get_absolute_url()}?{urlencode({'lang': other})}",
        "cap_url": last.get_absolute_url() if last else "",
        "tiles": settings.MAP["TILE_URL"],
        "attribution": settings.MAP["ATTRIBUTION"],
        "form": extra.pop("form", None) or TipForm(),
        **extra,
    }


@require_GET
@cache_control(public=True, max_age=60)
def alert_index(request):
    language = _activate_language(request)
    alerts = list(_active_with_messages()[:100])
    items = []
    for alert in alerts:
        last = _last(alert)
        items.append({"alert": alert, "headline": cap.headline(last) if last else ""})
    other = "en" if language == "zh-hans" else "zh-hans"
    return _page(
        "public/alert_index.html",
        {
            "items": items,
            "language": language,
            "other_language": other,
            "other_language_url": f"{reverse('public_alert_index')}?{urlencode({'lang': other})}",
        },
    )


@require_GET
def alert_page(request, identifier: str):
    language = _activate_language(request)
    alert = _alert_or_404(identifier)
    context = _alert_context(request, alert, language, sent=request.GET.get("sent") == "1")
    response = _page("public/alert.html", context)
    # Short: an ended alert must stop showing the person soon, even from caches.
    response["Cache-Control"] = "public, max-age=30"
    return response


def _refused(request, alert, language, status, message, form=None):
    context = _alert_context(request, alert, language, form=form, refusal=message)
    return _page("public/alert.html", context, status=status)


def _limited(request, alert: PublicAlert) -> bool:
    """Count this tip against its address and its alert; True if either is over its rate."""
    conf = settings.PUBLIC_ALERT
    try:
        by_address = is_ratelimited(
            request,
            group="tip-address",
            key=lambda group, req: client_ip(req) or "unknown",
            rate=conf["TIP_RATE_PER_ADDRESS"],
            method=ALL,
            increment=True,
        )
        by_alert = is_ratelimited(
            request,
            group=f"tip-alert-{alert.pk}",
            key=lambda group, req: alert.identifier,
            rate=conf["TIP_RATE_PER_ALERT"],
            method=ALL,
            increment=True,
        )
    except Exception:  # noqa: BLE001 - with the cache down, tips still come in
        logger.warning("tip rate limit unavailable: cache down")
        return False
    return by_address or by_alert


@csrf_exempt  # no session, no sign-in: there is no one's authority for a forged form to use
@require_POST
def alert_tip(request, identifier: str):
    language = _activate_language(request)
    alert = _alert_or_404(identifier)
    if _limited(request, alert):
        response = _refused(
            request,
            alert,
            language,
            429,
            _(
                "Too many tips have come from here or for this alert just now; try again later, "
                "or call the number on this page."
            ),
        )
        response["Retry-After"] = "600"
        return response
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > TIP_BODY_MAX:
        return _refused(
            request, alert, language, 413, _("The tip is too large: send a photo under 10 MB.")
        )
    if not alert.is_active:
        return _refused(
            request,
            alert,
            language,
            410,
            _("This alert has ended: thank you, no more tips are needed."),
        )
    form = TipForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refused(request, alert, language, 400, _("Please check the form."), form=form)
    data = form.cleaned_data
    done = (
        reverse("public_alert", args=[alert.identifier])
        + "?"
        + urlencode({"lang": language, "sent": "1"})
    )
    if data.get("website"):
        return HttpResponseRedirect(done, status=303)  # a bot: it sees success, nothing is kept
    try:
        if data.get("lat") is not None:
            point = make_point(lon=data["lon"], lat=data["lat"])
        else:
            point = geocode(data["place"]).point
    except GeocodingError as exc:
        form.add_error(
            "place",
            _("We could not find that place; tap the map or use your position instead.")
            if exc.reason == GeocodingError.NOT_FOUND
            else _("Finding places is unavailable just now; tap the map or use your position."),
        )
        return _refused(request, alert, language, 400, _("Please check the form."), form=form)
    description = data["description"]
    if data.get("place") and data.get("lat") is not None:
        description = f"{data['place']}: {description}"
    try:
        public.tip_record(
            alert=alert,
            tip=public.TipInput(
                seen_at=data["seen_at"],
                point=point,
                description=description,
                phone=data.get("phone", ""),
                photo=data.get("photo"),
            ),
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                target = name if name in form.fields else None
                for error in errors:
                    form.add_error(target, error)
        else:
            form.add_error(None, exc)
        return _refused(request, alert, language, 400, _("Please check the form."), form=form)
    return HttpResponseRedirect(done, status=303)


@require_GET
def alert_photo(request, identifier: str):
    alert = _alert_or_404(identifier)
    if not alert.is_active or "photo" not in alert.clearance or not alert.photo:
        raise Http404
    response = FileResponse(alert.photo.open("rb"))
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
def alert_cap(request, identifier: str):
    message = get_object_or_404(
        PublicAlertMessage.objects.select_related("alert__case__organisation"),
        identifier=identifier,
    )
    body = cap.cap_document(message, base_url=public_base_url(request))
    response = HttpResponse(body, content_type=f"{cap.CAP_CONTENT_TYPE}; charset=utf-8")
    # A message never changes once sent; only whether its photo is still served does.
    response["Cache-Control"] = "public, max-age=300"
    return response


class AlertFeed(Atom1Feed):
    """Atom with a second link per entry: the entry's CAP message beside its public page."""

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        handler.addQuickElement(
            "link", "", {"rel": "alternate", "type": cap.CAP_CONTENT_TYPE, "href": item["cap_url"]}
        )


@require_GET
@cache_control(public=True, max_age=60)
def alert_feed(request):
    language = _activate_language(request)
    root = public_base_url(request)
    feed = AlertFeed(
        title=_("Beacon: missing-person alerts"),
        link=root + reverse("public_alert_index"),
        description=_("Active public alerts for missing people."),
        language="zh-CN" if language == "zh-hans" else "en-US",
        feed_url=root + reverse("public_alert_feed"),
        feed_guid=root + reverse("public_alert_feed"),
    )
    for alert in _active_with_messages()[:200]:
        last = _last(alert)
        if last is None or last.msg_type == CapMsgType.CANCEL:
            continue
        facts = cap.facts(last.content)
        feed.add_item(
            title=cap.headline(last),
            link=root + alert.get_absolute_url(),
            description="\n".join(facts),
            unique_id=f"{root}{alert.get_absolute_url()}",
            pubdate=alert.published_at,
            updateddate=last.sent,
            author_name=alert.case.organisation.name,
            cap_url=root + last.get_absolute_url(),
        )
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    return response
