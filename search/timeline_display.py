"""The timeline as people read it: labels in their language, sensitive values masked."""

from django.utils.translation import gettext as _

from search.choices import EventKind
from search.models import Case
from search.permissions import MASK, mask_event_data


def _field_label(name: str) -> str:
    try:
        return str(Case._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a renamed field still shows, by its old name
        return name


def timeline_rows(case: Case, *, revealed: set[str]) -> list[dict]:
    """Return the case's events, oldest first, as rows for the page; sensitive values show
    only for the parts revealed (and recorded) in this request."""
    rows = []
    for event in case.events.select_related("actor").order_by("seq"):
        details = []
        data = mask_event_data(event.data, revealed=revealed)
        if event.kind == EventKind.EDITED:
            for name, change in data.get("changes", {}).items():
                shown = MASK if change["new"] == MASK else f"{change['old']} → {change['new']}"
                details.append(f"{_field_label(name)}: {shown}")
        elif data:
            details = [f"{key}: {value}" for key, value in data.items() if key != "changes"]
        rows.append(
            {
                "seq": event.seq,
                "at": event.created_at,
                "kind": EventKind(event.kind).label,
                "actor": event.actor.get_full_name() or event.actor.username
                if event.actor
                else _("system"),
                "source": event.get_source_display(),
                "details": details,
            }
        )
    return rows
