"""CAP 1.2 (OASIS Common Alerting Protocol) documents for public alert messages.

A message is written from what it froze when it was sent (its clearance and content), never from
the case: nothing of a case reaches a CAP reader that the coordinator did not clear.
"""

from datetime import datetime

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from lxml import etree

from search.choices import CapMsgType, Priority, PublicAlertReason, Sex
from search.models import PublicAlertMessage

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_CONTENT_TYPE = "application/cap+xml"
# One <info> per language, each written in that language.
LANGUAGES = (("zh-CN", "zh-hans"), ("en-US", "en"))
# How urgent, severe and certain, by the case's priority. A missing person is known missing:
# certainty is "Observed" at every priority.
BY_PRIORITY = {
    Priority.CRITICAL: ("Immediate", "Extreme"),
    Priority.HIGH: ("Immediate", "Severe"),
    Priority.NORMAL: ("Expected", "Moderate"),
}
# CAP polygons are read by phones and sirens: a few hundred points at most is plenty.
POLYGON_TOLERANCE_DEG = 0.0005
POLYGON_MAX_POINTS = 200


def cap_time(moment) -> str:
    """Return a CAP dateTime: local time, whole seconds, an explicit offset (never "Z")."""
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _sub(parent, tag: str, text=None):
    element = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = str(text)
    return element


def display_rows(content: dict, *, with_place: bool = False) -> list[tuple[str, str]]:
    """Return the cleared facts as (label, value) rows in the active language: the public page
    and the coordinator's preview show these same rows."""
    rows = []
    if content.get("name"):
        rows.append((_("Name"), content["name"]))
    if content.get("age") is not None:
        rows.append((_("Age"), str(content["age"])))
    if content.get("sex"):
        rows.append((_("Sex"), str(Sex(content["sex"]).label)))
    if content.get("height_cm"):
        rows.append((_("Height"), _("%(v)s cm") % {"v": content["height_cm"]}))
    if content.get("clothing"):
        rows.append((_("Clothing"), content["clothing"]))
    if content.get("description"):
        rows.append((_("Description"), content["description"]))
    if with_place and content.get("place"):
        seen = timezone.localtime(datetime.fromisoformat(content["seen_at"]))
        rows.append(
            (
                _("Last seen"),
                _("%(place)s, about %(time)s")
                % {"place": content["place"], "time": seen.strftime("%Y-%m-%d %H:%M")},
            )
        )
    if with_place and content.get("phone"):
        rows.append((_("Seen this person? Call"), content["phone"]))
    return rows


def facts(content: dict) -> list[str]:
    """Return the cleared facts as sentences in the active language."""
    facts = []
    if content.get("name"):
        facts.append(_("Name: %(v)s") % {"v": content["name"]})
    if content.get("age") is not None:
        facts.append(_("Age: %(v)s") % {"v": content["age"]})
    if content.get("sex"):
        facts.append(_("Sex: %(v)s") % {"v": Sex(content["sex"]).label})
    if content.get("height_cm"):
        facts.append(_("Height: %(v)s cm") % {"v": content["height_cm"]})
    if content.get("clothing"):
        facts.append(_("Clothing: %(v)s") % {"v": content["clothing"]})
    if content.get("description"):
        facts.append(_("Description: %(v)s") % {"v": content["description"]})
    if content.get("place"):
        seen = timezone.localtime(datetime.fromisoformat(content["seen_at"]))
        facts.append(
            _("Last seen: %(place)s, about %(time)s")
            % {"place": content["place"], "time": seen.strftime("%Y-%m-%d %H:%M")}
        )
    return facts


def headline(message: PublicAlertMessage) -> str:
    """Return the headline in the active language."""
    if message.reason == PublicAlertReason.FOUND:
        return _("Found: thank you for your help")
    if message.reason == PublicAlertReason.WITHDRAWN:
        return _("Alert withdrawn")
    return headline_of(message.content)


def headline_of(content: dict) -> str:
    """Return the headline of an active alert with this content, in the active language."""
    if content.get("name") and content.get("age") is not None:
        return _("Missing person: %(name)s, %(age)s") % {
            "name": content["name"],
            "age": content["age"],
        }
    if content.get("name"):
        return _("Missing person: %(name)s") % {"name": content["name"]}
    return _("Missing person")


def _polygon(message: PublicAlertMessage) -> str | None:
    if message.area is None:
        return None
    shape = message.area.simplify(POLYGON_TOLERANCE_DEG, preserve_topology=True)
    ring = list(shape.exterior_ring.coords) if shape.geom_type == "Polygon" else []
    if len(ring) < 4 or len(ring) > POLYGON_MAX_POINTS:
        shape = message.area.convex_hull.simplify(POLYGON_TOLERANCE_DEG * 10)
        ring = list(shape.exterior_ring.coords) if shape.geom_type == "Polygon" else []
    if len(ring) < 4:
        return None
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in ring)


def _info(alert_el, message: PublicAlertMessage, *, language: str, public_url: str, photo_url):
    alert = message.alert
    content = message.content
    ended = message.msg_type == CapMsgType.CANCEL
    info = _sub(alert_el, "info")
    _sub(info, "language", language)
    _sub(info, "category", "Rescue")
    _sub(info, "event", _("Missing person"))
    _sub(info, "responseType", "AllClear" if ended else "Monitor")
    urgency, severity = BY_PRIORITY.get(message.priority, BY_PRIORITY[Priority.NORMAL])
    _sub(info, "urgency", "Past" if ended else urgency)
    _sub(info, "severity", "Minor" if ended else severity)
    _sub(info, "certainty", "Observed")
    _sub(info, "senderName", alert.case.organisation.name)
    _sub(info, "headline", headline(message))
    if message.reason == PublicAlertReason.FOUND:
        _sub(info, "description", _("The person has been found. Thank you for your help."))
    elif ended:
        _sub(info, "description", _("This alert has been withdrawn."))
    else:
        _sub(info, "description", "\n".join(facts(content)))
        if content.get("phone"):
            instruction = _(
                "If you have seen this person, call %(phone)s or tell us on the alert page."
            ) % {"phone": content["phone"]}
        else:
            instruction = _("If you have seen this person, tell us on the alert page.")
        _sub(info, "instruction", instruction)
    _sub(info, "web", public_url)
    if content.get("phone") and not ended:
        _sub(info, "contact", content["phone"])
    photo = content.get("photo")
    if photo and not ended and photo_url:
        resource = _sub(info, "resource")
        _sub(resource, "resourceDesc", _("Photo"))
        _sub(resource, "mimeType", photo["mime"])
        _sub(resource, "size", photo["size"])
        _sub(resource, "uri", photo_url)
        _sub(resource, "digest", photo["sha1"])
    if not ended:
        area = _sub(info, "area")
        _sub(area, "areaDesc", content.get("place") or alert.case.organisation.name)
        polygon = _polygon(message)
        if polygon:
            _sub(area, "polygon", polygon)
        centre = alert.centre
        _sub(area, "circle", f"{centre.y:.2f},{centre.x:.2f} {message.radius_km}")


def cap_document(message: PublicAlertMessage, *, base_url: str) -> bytes:
    """Return the message as a CAP 1.2 XML document (UTF-8)."""
    alert = message.alert
    sender = settings.PUBLIC_ALERT["SENDER"]
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", message.identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(message.sent))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", message.msg_type)
    _sub(root, "scope", "Public")
    earlier = list(
        PublicAlertMessage.objects.filter(alert=alert, number__lt=message.number).order_by("number")
    )
    if earlier:
        _sub(
            root,
            "references",
            " ".join(f"{sender},{m.identifier},{cap_time(m.sent)}" for m in earlier),
        )
    _sub(root, "incidents", alert.identifier)
    public_url = base_url + alert.get_absolute_url()
    photo_url = base_url + alert.get_absolute_url() + "photo/" if alert.photo else None
    for language, django_language in LANGUAGES:
        with translation.override(django_language):
            _info(root, message, language=language, public_url=public_url, photo_url=photo_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
