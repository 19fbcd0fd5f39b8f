"""The case: one missing person and the search for them."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.utils.translation import gettext_lazy as _

from search.choices import CaseStatus, SubjectCategory
from search.geo import SRID


class Case(models.Model):
    """A missing-person case; the intake issue grows the subject profile."""

    reference = models.CharField(_("reference"), max_length=24, unique=True)
    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="cases",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    subject_name = models.CharField(_("subject name"), max_length=200)
    category = models.CharField(_("category"), max_length=32, choices=SubjectCategory.choices)
    last_seen_at = models.DateTimeField(_("last seen at"))
    last_seen_point = models.PointField(
        _("last seen point"), srid=SRID, geography=True, spatial_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="cases_created",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at"]
        indexes = [
            GistIndex(fields=["last_seen_point"], name="case_last_seen_gist"),
            models.Index(fields=["organisation", "status"], name="case_org_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject_name}"
