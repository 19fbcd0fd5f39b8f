"""Field tasks (a sector offered to a unit) and alerts for coordinators."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from search.choices import AlertKind, TaskStatus

OPEN_TASK_STATUSES = (TaskStatus.OFFERED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS)


class TaskQuerySet(models.QuerySet):
    def open(self) -> "TaskQuerySet":
        return self.filter(status__in=OPEN_TASK_STATUSES)


class Task(models.Model):
    """A sector offered to a unit: offered → accepted | declined | expired → in progress → done."""

    case = models.ForeignKey(
        "search.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="tasks"
    )
    sector = models.ForeignKey(
        "search.Sector", verbose_name=_("sector"), on_delete=models.PROTECT, related_name="tasks"
    )
    unit = models.ForeignKey(
        "accounts.Unit", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="tasks"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OFFERED
    )
    rank = models.PositiveSmallIntegerField(
        _("rank"),
        default=1,
        help_text=_("1 for the sector's first offer, 2 for the next unit after a decline..."),
    )
    distance_m = models.FloatField(_("distance (m)"), null=True)
    offered_at = models.DateTimeField(_("offered at"))
    expires_at = models.DateTimeField(_("offer expires at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last activity at"))
    coverage = models.FloatField(_("coverage (0-1)"), null=True, blank=True)
    note = models.TextField(_("note"), max_length=2000, blank=True)
    # Why the dispatch policy gave this unit this sector (search/services/policy.py).
    basis = models.JSONField(_("basis of the offer"), default=dict, db_default={}, blank=True)
    stale_flagged_at = models.DateTimeField(_("flagged as stale at"), null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["-offered_at"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="task_status_expiry_idx"),
            models.Index(fields=["unit", "status"], name="task_unit_status_idx"),
            # A case's tasks by state (its map, the coordinator's desk): without it the planner
            # also read every expired offer of all time through the status index.
            models.Index(fields=["case", "status"], name="task_case_status_idx"),
        ]
        constraints = [
            # Exactly once: a unit is never offered the same sector twice...
            models.UniqueConstraint(fields=["sector", "unit"], name="task_sector_unit_unique"),
            # ...and a sector is with at most one unit at a time.
            models.UniqueConstraint(
                fields=["sector"],
                condition=Q(status__in=OPEN_TASK_STATUSES),
                name="task_one_open_per_sector",
            ),
            models.CheckConstraint(
                condition=Q(coverage__isnull=True) | (Q(coverage__gte=0) & Q(coverage__lte=1)),
                name="task_coverage_range",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} {self.status}"


class Alert(models.Model):
    """Something a coordinator must hear about: an expired offer, stale work, nobody to send."""

    case = models.ForeignKey(
        "search.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="alerts"
    )
    task = models.ForeignKey(
        Task, verbose_name=_("task"), null=True, blank=True, on_delete=models.PROTECT
    )
    kind = models.CharField(_("kind"), max_length=24, choices=AlertKind.choices)
    message = models.TextField(_("message"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "acknowledged_at"], name="alert_case_open_idx")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:40]}"


class FieldAction(models.Model):
    """An action sent from a phone with an id made on the phone: applied once, answered alike.

    A phone that lost its connection replays what it queued; the same id with the same body
    gets the first answer again, the same id with another body is refused.
    """

    client_id = models.UUIDField(_("client id"), unique=True)
    user = models.ForeignKey(
        "accounts.User", verbose_name=_("user"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("field action")
        verbose_name_plural = _("field actions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.client_id}"
