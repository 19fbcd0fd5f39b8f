"""The timeline as people read it: labels in their language, sensitive values masked."""

from django.utils.translation import gettext as _

from search.choices import EventKind
from search.models import Case
from search.permissions import SENSITIVE_FIELDS

MASK = "•••"


def _field_label(name: str) -> str:
    try:
        return str(Case._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a renamed field still shows, by its old name
        return name


def timeline_rows(case: Case, *, sensitive_groups: set[str]) -> list[dict]:
    """Return the case's events, oldest first, as rows for the page."""
    hidden = {
        field
        for group, fields in SENSITIVE_FIELDS.items()
        if group not in sensitive_groups
        for field in fields
    }
    rows = []
    for event in case.events.select_related("actor").order_by("seq"):
        details = []
        if event.kind == EventKind.EDITED:
            for name, change in event.data.get("changes", {}).items():
                if name in hidden:
                    details.append(f"{_field_label(name)}: {MASK}")
                else:
                    details.append(f"{_field_label(name)}: {change['old']} → {change['new']}")
        elif event.data:
            details = [f"{key}: {value}" for key, value in event.data.items() if key != "changes"]
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
