"""Public alerts: what a coordinator cleared for the public about a case, and its CAP messages.

An alert's clearance and content are the only things of the case that ever leave through it:
the public page, the CAP messages and the Atom feed read them, never the case. Each publish,
update, widening and end is a new message (CAP Alert, then Update or Cancel referencing the
earlier ones); a message is never rewritten.
"""

import uuid

from django.conf import settings
from django.contrib.gis.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from search.choices import CapMsgType, PublicAlertReason, PublicAlertStatus
from search.geo import SRID


def _new_identifier() -> str:
    # Random, so that identifiers cannot be walked to find alerts not yet shared.
    return uuid.uuid4().hex


class PublicAlertQuerySet(models.QuerySet):
    def active(self) -> "PublicAlertQuerySet":
        return self.filter(status=PublicAlertStatus.ACTIVE)


class PublicAlert(models.Model):
    identifier = models.CharField(
        _("identifier"), max_length=40, unique=True, default=_new_identifier, editable=False
    )
    case = models.ForeignKey(
        "search.Case",
        verbose_name=_("case"),
        on_delete=models.PROTECT,
        related_name="public_alerts",
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=PublicAlertStatus.choices,
        default=PublicAlertStatus.ACTIVE,
    )
    # The field keys cleared for the public (search.services.public.PUBLIC_FIELDS).
    clearance = models.JSONField(_("cleared fields"), default=list)
    # The cleared values as approved in the preview, keyed by field; nothing else is shown.
    content = models.JSONField(_("public content"), default=dict)
    # A copy of the case photo as cleared: the case's own photo may change or be withdrawn.
    photo = models.ImageField(_("public photo"), upload_to="public-photos/%Y/%m/", blank=True)
    photo_size = models.PositiveIntegerField(_("photo size"), null=True, blank=True)
    photo_sha1 = models.CharField(_("photo SHA-1"), max_length=40, blank=True)
    # The rough centre shown to the public: the last-seen point rounded, never the pin itself.
    centre = models.PointField(_("rough centre"), srid=SRID, geography=True, spatial_index=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    published_at = models.DateTimeField(_("published at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = PublicAlertQuerySet.as_manager()

    class Meta:
        verbose_name = _("public alert")
        verbose_name_plural = _("public alerts")
        ordering = ["-published_at"]
        constraints = [
            # One live alert per case: a second would contradict the first in the feed.
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(status=PublicAlertStatus.ACTIVE),
                name="public_alert_one_active_per_case",
            )
        ]
        indexes = [models.Index(fields=["status", "-published_at"], name="public_alert_status")]

    def __str__(self) -> str:
        return self.identifier

    @property
    def is_active(self) -> bool:
        return self.status == PublicAlertStatus.ACTIVE

    def get_absolute_url(self) -> str:
        return reverse("public_alert", args=[self.identifier])


class PublicAlertMessage(models.Model):
    """One CAP message about an alert, as it was sent: later ones reference the earlier."""

    alert = models.ForeignKey(
        PublicAlert, verbose_name=_("alert"), on_delete=models.PROTECT, related_name="messages"
    )
    number = models.PositiveSmallIntegerField(_("number"))
    identifier = models.CharField(_("identifier"), max_length=48, unique=True)
    msg_type = models.CharField(_("message type"), max_length=8, choices=CapMsgType.choices)
    reason = models.CharField(_("reason"), max_length=10, choices=PublicAlertReason.choices)
    sent = models.DateTimeField(_("sent"))
    priority = models.PositiveSmallIntegerField(_("priority"))
    # What this message said, frozen: the alert's clearance and content at the time.
    clearance = models.JSONField(_("cleared fields"), default=list)
    content = models.JSONField(_("public content"), default=dict)
    radius_km = models.PositiveIntegerField(_("alert radius (km)"))
    # The current search area's outline at the time, if the case had one.
    area = models.PolygonField(_("search area"), srid=SRID, null=True, blank=True)

    class Meta:
        verbose_name = _("public alert message")
        verbose_name_plural = _("public alert messages")
        ordering = ["alert", "number"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "number"], name="public_message_number")
        ]

    def __str__(self) -> str:
        return self.identifier

    def get_absolute_url(self) -> str:
        return reverse("public_alert_cap", args=[self.identifier])
