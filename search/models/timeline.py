"""The case timeline: an append-only, hash-chained record of who did what, when, from where."""

import hashlib
import json
from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from search.choices import EventKind, EventSource

GENESIS_HASH = "0" * 64


class CaseEvent(models.Model):
    """One entry of a case's timeline; the database refuses to change or delete it."""

    case = models.ForeignKey(
        "search.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="events"
    )
    seq = models.PositiveIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=24, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=10, choices=EventSource.choices)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"))
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["case", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["case", "seq"], name="case_event_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.kind}"

    def compute_hash(self) -> str:
        """Return the SHA-256 of this event's content and the hash of the event before it."""
        content = {
            "case": self.case_id,
            "seq": self.seq,
            "kind": self.kind,
            "actor": self.actor_id,
            "source": self.source,
            "ip": self.ip,
            "data": self.data,
            "at": self.created_at.astimezone(UTC).isoformat(),
            "prev": self.prev_hash,
        }
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
