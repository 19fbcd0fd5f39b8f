"""Mutual aid between cities: the request, and the messages that carry it both ways."""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from search.choices import (
    AID_AWAITING_ANSWER,
    AID_FINAL_STATUSES,
    AID_OPEN_STATUSES,
    AidDirection,
    AidMessageType,
    AidStatus,
)
from search.geo import SRID


def answer_due_before(now: datetime) -> datetime:
    """Return the moment before which a request still waiting for its answer is overdue."""
    return now - timedelta(minutes=settings.FEDERATION["ESCALATE_AFTER_MINUTES"])


class MutualAidRequestQuerySet(models.QuerySet):
    def open(self) -> "MutualAidRequestQuerySet":
        return self.filter(status__in=AID_OPEN_STATUSES)

    def overdue(self, now: datetime) -> "MutualAidRequestQuerySet":
        """Return requests the partner has left without a yes or no for too long."""
        return self.filter(
            status__in=AID_AWAITING_ANSWER, status_changed_at__lt=answer_due_before(now)
        )


class MutualAidRequest(models.Model):
    """A request for help to (outbound) or from (inbound) a partner city, tracked until it ends.

    Both cities hold a row with the same ``uid``; the status moves the same way on both sides:
    sent → acknowledged → accepted | declined → active → completed | cancelled.
    """

    uid = models.UUIDField(_("request id"), default=uuid.uuid4, editable=False)
    direction = models.CharField(_("direction"), max_length=10, choices=AidDirection.choices)
    partner = models.ForeignKey(
        "accounts.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="aid_requests",
    )
    # Outbound: the case we search for. Inbound: our assisting case, once we accept.
    case = models.ForeignKey(
        "search.Case",
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="aid_requests",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=AidStatus.choices, default=AidStatus.SENT
    )
    reason = models.TextField(_("reason"), max_length=2000)
    decline_reason = models.TextField(_("reason for declining"), max_length=2000, blank=True)
    # What was sent (outbound) or received (inbound): the minimised case summary.
    summary = models.JSONField(_("case summary"), default=dict)
    area = models.MultiPolygonField(
        _("area asked for"), srid=SRID, null=True, blank=True, spatial_index=False
    )
    contact = models.JSONField(_("requesting coordinator"), default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    status_changed_at = models.DateTimeField(_("status changed at"))
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_message_type = models.CharField(
        _("last message"), max_length=20, choices=AidMessageType.choices, blank=True
    )
    # Sequence numbers per direction: ours for what we send, theirs for what we have applied.
    seq_out = models.PositiveIntegerField(default=0)
    seq_in = models.PositiveIntegerField(default=0)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    # For the figures: how long a partner took to receive and to take on a request.
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)

    objects = MutualAidRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("mutual-aid request")
        verbose_name_plural = _("mutual-aid requests")
        ordering = ["-created_at"]
        constraints = [
            # Unique across partners: pages and the API find a request by its id alone.
            models.UniqueConstraint(fields=["uid"], name="aid_uid_unique"),
            # One open outbound request per case and partner: asking twice helps nobody.
            models.UniqueConstraint(
                fields=["case", "partner"],
                condition=Q(direction=AidDirection.OUTBOUND)
                & ~Q(status__in=[s.value for s in AID_FINAL_STATUSES]),
                name="aid_one_open_per_case_partner",
            ),
            models.CheckConstraint(condition=Q(area__isvalid=True), name="aid_area_valid"),
        ]
        indexes = [models.Index(fields=["status", "status_changed_at"], name="aid_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.partner} {self.uid}"

    @property
    def is_open(self) -> bool:
        return self.status in AID_OPEN_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        """Return whether the partner left it without a yes or no too long (as `overdue`)."""
        return self.status in AID_AWAITING_ANSWER and self.status_changed_at < answer_due_before(
            now
        )


class OutboxMessage(models.Model):
    """A message to a partner, written in the same transaction as the change that caused it.

    The relay delivers it (signed, with its id as the idempotency key) until the partner
    answers; the database, not the broker, is the record of what must still go out.
    """

    uid = models.UUIDField(_("message id"), default=uuid.uuid4, unique=True, editable=False)
    request = models.ForeignKey(
        MutualAidRequest, on_delete=models.PROTECT, related_name="outbox_messages"
    )
    seq = models.PositiveIntegerField(_("sequence"))
    type = models.CharField(_("type"), max_length=20, choices=AidMessageType.choices)
    body = models.JSONField(_("body"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("refused at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Held by the worker sending it: the partner's call is made outside any transaction, so
    # the claim is this lease, not a row lock; a lease that runs out frees the row again.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(_("held until"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        ordering = ["request", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["request", "seq"], name="outbox_request_seq_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at__isnull=True, failed_at__isnull=True),
                name="outbox_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} → {self.request.partner}"


class InboxMessage(models.Model):
    """A message a partner sent us: kept so a replay gets the first answer and order holds."""

    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="+")
    uid = models.UUIDField(_("message id"))
    request = models.ForeignKey(
        MutualAidRequest, on_delete=models.PROTECT, related_name="inbox_messages"
    )
    seq = models.PositiveIntegerField(_("sequence"))
    type = models.CharField(_("type"), max_length=20, choices=AidMessageType.choices)
    body = models.JSONField(_("body"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    # Null while it waits for an earlier message of the same request.
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    # created, applied, waiting or refused: the API says it in HTTP.
    outcome = models.CharField(_("outcome"), max_length=10)
    response_body = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("incoming message")
        verbose_name_plural = _("incoming messages")
        ordering = ["request", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "uid"], name="inbox_partner_uid_unique"),
            models.UniqueConstraint(fields=["request", "seq"], name="inbox_request_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} ← {self.partner}"


class PartnerLink(models.Model):
    """How delivery to one partner stands: reachable or not, since when, when to try it next.

    While a partner does not answer, one probe (its oldest waiting message) goes out on a short,
    capped backoff instead of every queued message retrying on its own schedule; the first
    answer reopens the link and every stream to that partner drains at once, in order.
    """

    partner = models.OneToOneField(
        "accounts.Partner", on_delete=models.CASCADE, primary_key=True, related_name="link"
    )
    reachable = models.BooleanField(_("reachable"), default=True)
    # When `reachable` last changed (or the first delivery, for a link never down).
    since = models.DateTimeField(_("since"))
    # Tries in a row that got no answer; 0 while reachable.
    failures = models.PositiveIntegerField(_("failed tries in a row"), default=0)
    # While unreachable: when the next probe may go (a running probe holds it a lease ahead).
    probe_at = models.DateTimeField(_("next probe at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last answered at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("partner link")
        verbose_name_plural = _("partner links")

    def __str__(self) -> str:
        return f"{self.partner}: {'up' if self.reachable else 'down'} since {self.since:%H:%M:%S}"
