"""Records brought in from other person registries (PFIF), waiting to become cases.

An imported person is not a case: the registry says who is missing, not where and when they
were last seen, nor how urgent it is. A clerk completes the draft and confirms it, and only
then does intake open a case (and dispatch run). Until then nothing is searched for.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from search.choices import DraftStatus, Sex


class DraftReportQuerySet(models.QuerySet):
    def pending(self) -> "DraftReportQuerySet":
        return self.filter(status=DraftStatus.DRAFT)


class DraftReport(models.Model):
    """One person of a PFIF document, as the registry described them."""

    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="draft_reports",
    )
    # The registry's id ("domain/local id"): a second import of the same id updates this row.
    person_record_id = models.CharField(_("PFIF record id"), max_length=255)
    source_name = models.CharField(_("source registry"), max_length=200, blank=True)
    source_url = models.CharField(_("source URL"), max_length=500, blank=True)
    source_date = models.DateTimeField(_("source date"), null=True, blank=True)

    full_name = models.CharField(_("full name"), max_length=200)
    given_name = models.CharField(_("given name"), max_length=100, blank=True)
    family_name = models.CharField(_("family name"), max_length=100, blank=True)
    alternate_names = models.CharField(_("alternate names"), max_length=300, blank=True)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    # PFIF allows a year or a month alone; a case takes only a whole date.
    date_of_birth_text = models.CharField(_("date of birth (as given)"), max_length=10, blank=True)
    # As given: "34" or a range "30-40".
    age = models.CharField(_("age (as given)"), max_length=7, blank=True)
    description = models.TextField(_("description"), max_length=4000, blank=True)
    home_address = models.TextField(_("home address"), max_length=1000, blank=True)
    # Text only: never fetched by the server, never shown as an image.
    photo_url = models.CharField(_("photo URL"), max_length=500, blank=True)
    author_name = models.CharField(_("reported by"), max_length=200, blank=True)
    author_phone = models.CharField(_("reporter's phone"), max_length=64, blank=True)
    author_email = models.CharField(_("reporter's email"), max_length=200, blank=True)
    # The registry's notes as sent: PFIF field names to values, one object per note.
    notes = models.JSONField(_("notes"), default=list, blank=True)

    status = models.CharField(
        _("status"), max_length=10, choices=DraftStatus.choices, default=DraftStatus.DRAFT
    )
    case = models.OneToOneField(
        "search.Case",
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="draft_report",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = DraftReportQuerySet.as_manager()

    class Meta:
        verbose_name = _("draft report")
        verbose_name_plural = _("draft reports")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "person_record_id"], name="draft_record_per_organisation"
            ),
            # A confirmed draft names its case, and only a confirmed one does.
            models.CheckConstraint(
                condition=models.Q(status=DraftStatus.CONFIRMED, case__isnull=False)
                | (~models.Q(status=DraftStatus.CONFIRMED) & models.Q(case__isnull=True)),
                name="draft_confirmed_has_case",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status"], name="draft_org_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_record_id} {self.full_name}"

    @property
    def estimated_age(self) -> int | None:
        """Return the age as one number: the age given, or the middle of a range."""
        if not self.age:
            return None
        low, _sep, high = self.age.partition("-")
        low_n = int(low)
        return (low_n + int(high)) // 2 if high else low_n
