"""Supervision orders (督办): what a supervisor ordered done, by when, by whom, and the answer."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.choices import ORDER_AWAITING_ANSWER, ORDER_OPEN_STATUSES, OrderAction, OrderStatus

MAX_ORDER_TEXT = 2000


class SupervisionOrderQuerySet(models.QuerySet):
    def open(self) -> "SupervisionOrderQuerySet":
        """Return orders not yet closed as satisfied."""
        return self.filter(status__in=ORDER_OPEN_STATUSES)

    def overdue(self, now: datetime) -> "SupervisionOrderQuerySet":
        """Return orders still waiting for their answer after their deadline."""
        return self.filter(status__in=ORDER_AWAITING_ANSWER, deadline__lt=now)

    def overdue_first(self) -> "SupervisionOrderQuerySet":
        """Return open orders with the nearest (or most overdue) deadline first."""
        return self.order_by("deadline", "pk")


class SupervisionOrder(models.Model):
    """An order on a case or an aid request, addressed to a desk (an organisation) or a person.

    issued → acknowledged → answered → satisfied, or re-opened by the issuer (and answered
    again). An order left unanswered past its deadline escalates one level up the tree.
    """

    case = models.ForeignKey(
        "search.Case",
        verbose_name=_("case"),
        on_delete=models.PROTECT,
        related_name="supervision_orders",
    )
    # Set when the order is about a mutual-aid request; the request's case carries the timeline.
    aid_request = models.ForeignKey(
        "search.MutualAidRequest",
        verbose_name=_("mutual-aid request"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervision_orders",
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        on_delete=models.PROTECT,
        related_name="orders_issued",
    )
    issuer_organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("issuing desk"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The desk that must answer; `addressee_user` narrows it to one person of that desk.
    addressee_organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("addressed to desk"),
        on_delete=models.PROTECT,
        related_name="orders_received",
    )
    addressee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("addressed to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders_received",
    )
    instruction = models.TextField(_("what must be done"), max_length=MAX_ORDER_TEXT)
    deadline = models.DateTimeField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.ISSUED
    )
    answer = models.TextField(_("answer"), max_length=MAX_ORDER_TEXT, blank=True)
    answer_action = models.CharField(
        _("done"), max_length=20, choices=OrderAction.choices, blank=True
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("answered by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reopen_reason = models.TextField(_("reason for re-opening"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("issued at"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("satisfied at"), null=True, blank=True)
    # One level up the tree, once per deadline: who else now sees it as overdue.
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    escalated_to = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("escalated to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders_escalated",
    )
    # Every change says which version it read: two answers at once, one wins.
    version = models.PositiveIntegerField(default=1)

    objects = SupervisionOrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("supervision order")
        verbose_name_plural = _("supervision orders")
        ordering = ["deadline", "pk"]
        indexes = [
            models.Index(fields=["status", "deadline"], name="order_status_deadline_idx"),
            models.Index(fields=["addressee_organisation", "status"], name="order_addressee_idx"),
            models.Index(fields=["issued_by", "status"], name="order_issuer_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.ANSWERED) | Q(answered_at__isnull=False),
                name="order_answered_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.SATISFIED) | Q(closed_at__isnull=False),
                name="order_satisfied_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} {self.status}"

    def get_absolute_url(self) -> str:
        return reverse("order_detail", args=[self.pk])

    def is_overdue(self, now: datetime) -> bool:
        """Return whether it still waits for its answer after the deadline (as `overdue`)."""
        return self.status in ORDER_AWAITING_ANSWER and self.deadline < now

    @property
    def overdue_now(self) -> bool:
        """For lists: whether it is overdue at this moment."""
        return self.is_overdue(timezone.now())

    @property
    def action_label(self) -> str:
        return str(OrderAction(self.answer_action).label) if self.answer_action else ""
