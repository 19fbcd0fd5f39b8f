"""The case: one missing person and the search for them."""

from datetime import date

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex, GistIndex, OpClass
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Func, TextField, Value
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from search.choices import (
    CaseStatus,
    Confidence,
    ContactChannel,
    ContactResult,
    FoundCondition,
    LocationSource,
    Outcome,
    Priority,
    ReportChannel,
    Sex,
    SightingKind,
    SubjectCategory,
    Terrain,
    WeatherExposure,
)
from search.geo import SRID
from search.models.checks import constraints_check
from search.validators import EARLIEST_TIME

OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.ACTIVE)

# Groups of the person's fields that intake, the forms, the API and partner summaries all name:
# one list each, so adding a field to the description reaches every one of them.
APPEARANCE_FIELDS = ("height_cm", "build", "hair", "clothing", "distinguishing_marks", "languages")
# Health and crisis detail: seen only by roles that need it, sent to a partner only if allowed.
CARE_FIELDS = ("medical_needs", "medication", "self_harm_risk", "field_notes")
# What a report says, whichever way it comes in (the intake form, the API): the form, the
# serializer and the intake service all take exactly these, plus the place (PLACE_FIELDS), which
# each interface reads its own way (a pin or an address, GeoJSON).
REPORT_FIELDS = (
    "subject_name",
    "sex",
    "date_of_birth",
    "estimated_age",
    *APPEARANCE_FIELDS,
    "category",
    *CARE_FIELDS,
    "weather_exposure",
    "last_seen_at",
    "circumstances",
    "reporter_name",
    "reporter_phone",
    "reporter_relation",
    "report_channel",
)
PLACE_FIELDS = ("last_seen_point", "last_seen_place", "location_source")


class CaseQuerySet(models.QuerySet):
    def open(self) -> "CaseQuerySet":
        """Return cases still being searched for."""
        return self.filter(status__in=OPEN_STATUSES)

    def in_organisations(self, organisation_ids) -> "CaseQuerySet":
        return self.filter(organisation_id__in=organisation_ids)

    def newest_critical_first(self) -> "CaseQuerySet":
        return self.order_by("priority", "-created_at")


class SearchKey(Func):
    """Return the upper-cased text with each character three times ("张伟" → "张张张伟伟伟").

    A name search is "contains", and most Chinese names are two or three characters: a
    two-character search has no trigram, so a trigram index of the name itself cannot serve it
    (PostgreSQL reads the whole index). In the tripled text every search of one character or
    more has trigrams, and "tripled name contains tripled search" holds exactly when the name
    contains the search: the groups of three cannot match out of step.
    """

    function = "regexp_replace"
    output_field = TextField()

    def __init__(self, expression, **extra):
        super().__init__(Upper(expression), Value("(.)"), Value(r"\1\1\1"), Value("g"), **extra)


class Case(models.Model):
    """A missing-person case: the subject, where and when last seen, who reported it."""

    reference = models.CharField(_("reference"), max_length=24, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="cases",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    computed_priority = models.PositiveSmallIntegerField(
        _("computed priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    # Codes and values, not sentences, so the reasons read in either language.
    priority_reasons = models.JSONField(_("priority reasons"), default=list, blank=True)
    priority_override_reason = models.TextField(_("override reason"), blank=True)

    # Subject
    subject_name = models.CharField(_("subject name"), max_length=200)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    estimated_age = models.PositiveSmallIntegerField(
        _("estimated age"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(120)],
        help_text=_("When the date of birth is not known."),
    )
    height_cm = models.PositiveSmallIntegerField(
        _("height (cm)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(30), MaxValueValidator(250)],
    )
    build = models.CharField(_("build"), max_length=100, blank=True)
    hair = models.CharField(_("hair"), max_length=100, blank=True)
    clothing = models.TextField(_("clothing"), max_length=1000, blank=True)
    distinguishing_marks = models.TextField(_("distinguishing marks"), max_length=1000, blank=True)
    languages = models.CharField(_("languages spoken"), max_length=200, blank=True)
    photo = models.ImageField(_("photo"), upload_to="case-photos/%Y/%m/", blank=True)
    category = models.CharField(_("category"), max_length=32, choices=SubjectCategory.choices)
    medical_needs = models.TextField(_("medical needs"), max_length=2000, blank=True)
    medication = models.TextField(_("medication"), max_length=1000, blank=True)
    self_harm_risk = models.BooleanField(_("at risk of self-harm or in distress"), default=False)
    field_notes = models.TextField(
        _("notes for field units"),
        max_length=1000,
        blank=True,
        help_text=_("How to approach the person, what to look out for. No medical detail."),
    )
    weather_exposure = models.CharField(
        _("weather exposure"),
        max_length=10,
        choices=WeatherExposure.choices,
        default=WeatherExposure.NONE,
    )

    # Where and when
    last_seen_at = models.DateTimeField(_("last seen at"))
    last_seen_point = models.PointField(
        _("last seen point"), srid=SRID, geography=True, spatial_index=False
    )
    last_seen_place = models.CharField(_("last seen place"), max_length=300, blank=True)
    terrain = models.CharField(
        _("terrain"), max_length=10, choices=Terrain.choices, default=Terrain.URBAN
    )
    location_source = models.CharField(
        _("location source"), max_length=10, choices=LocationSource.choices
    )
    circumstances = models.TextField(_("circumstances"), max_length=4000, blank=True)

    # Reporter
    reporter_name = models.CharField(_("reporter name"), max_length=200, blank=True)
    reporter_phone = models.CharField(_("reporter phone"), max_length=32, blank=True)
    reporter_relation = models.CharField(_("relation to the subject"), max_length=100, blank=True)
    report_channel = models.CharField(
        _("how the report came in"),
        max_length=16,
        choices=ReportChannel.choices,
        default=ReportChannel.OTHER,
    )

    search_paused = models.BooleanField(_("search paused"), default=False)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, blank=True)
    outcome_note = models.TextField(_("outcome note"), max_length=2000, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # When the person was first reported found (or the case closed as located): the figures'
    # "time to find" runs from created_at to here.
    located_at = models.DateTimeField(_("located at"), null=True, blank=True)
    linked_cases = models.ManyToManyField(
        "self", verbose_name=_("linked cases"), blank=True, symmetrical=True
    )

    # Optimistic locking: every update says which version it read; a stale one is refused.
    version = models.PositiveIntegerField(_("version"), default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="cases_created",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["priority", "-created_at"]
        indexes = [
            GistIndex(fields=["last_seen_point"], name="case_last_seen_gist"),
            models.Index(fields=["organisation", "status"], name="case_org_status_idx"),
            models.Index(fields=["priority", "-created_at"], name="case_priority_created_idx"),
            # The figures pick a tree's cases filed, closed or located in a period.
            models.Index(fields=["organisation", "created_at"], name="case_org_created_idx"),
            models.Index(fields=["organisation", "closed_at"], name="case_org_closed_idx"),
            models.Index(fields=["organisation", "located_at"], name="case_org_located_idx"),
            # The name search (search.filters.CaseFilter): trigrams of the tripled name.
            GinIndex(
                OpClass(SearchKey("subject_name"), name="gin_trgm_ops"), name="case_name_trgm_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(estimated_age__isnull=True) | models.Q(estimated_age__lte=120),
                name="case_estimated_age_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=CaseStatus.CLOSED) | ~models.Q(outcome=""),
                name="case_closed_has_outcome",
            ),
            # The services bound every time they are given; this is the last line: a year-1
            # time would read back as year 0 and break every page showing the case.
            models.CheckConstraint(
                condition=models.Q(last_seen_at__gte=EARLIEST_TIME),
                name="case_last_seen_after_1900",
            ),
            models.CheckConstraint(
                condition=models.Q(date_of_birth__isnull=True)
                | models.Q(date_of_birth__gte=EARLIEST_TIME.date()),
                name="case_birth_after_1900",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject_name}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def validate_constraints(self, exclude=None):
        # One query for all the check constraints, not a query (and a savepoint) for each.
        constraints_check(self, exclude=set(exclude or ()))

    def age_on(self, day: date) -> int | None:
        """Return the subject's age in whole years on that day, from birth date or estimate."""
        if self.date_of_birth:
            born = self.date_of_birth
            return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        return self.estimated_age


class CaseReferenceCounter(models.Model):
    """The last reference number handed out per organisation and year (gap-free)."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "year"], name="case_ref_counter_unique")
        ]


class CrisisContact(models.Model):
    """An attempt by the crisis desk to reach a person at risk, or their family."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.PROTECT, related_name="crisis_contacts"
    )
    counsellor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("counsellor"), on_delete=models.PROTECT
    )
    attempted_at = models.DateTimeField(_("attempted at"))
    channel = models.CharField(_("channel"), max_length=16, choices=ContactChannel.choices)
    result = models.CharField(_("result"), max_length=16, choices=ContactResult.choices)
    note = models.TextField(_("note"), max_length=2000, blank=True)

    class Meta:
        verbose_name = _("crisis contact attempt")
        verbose_name_plural = _("crisis contact attempts")
        ordering = ["-attempted_at"]


class Sighting(models.Model):
    """A report of the person or a clue; a confirmed sighting re-centres the search area."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.PROTECT, related_name="sightings"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=SightingKind.choices)
    point = models.PointField(_("where"), srid=SRID, geography=True, spatial_index=False)
    seen_at = models.DateTimeField(_("when"))
    description = models.TextField(_("what"), max_length=2000, blank=True)
    source = models.CharField(_("source"), max_length=100, blank=True)
    confidence = models.CharField(
        _("confidence"), max_length=10, choices=Confidence.choices, default=Confidence.POSSIBLE
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reported by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    unit = models.ForeignKey(
        "accounts.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    photo = models.ImageField(_("photo"), upload_to="sighting-photos/%Y/%m/", blank=True)
    # For a "found" report: the person's condition and who has them now.
    condition = models.CharField(
        _("condition"), max_length=12, choices=FoundCondition.choices, blank=True
    )
    with_whom = models.CharField(_("who has the person now"), max_length=200, blank=True)
    # A tip from the public page: unconfirmed until a coordinator confirms it, and until then
    # it neither moves the search nor reaches a partner. The phone is the tipster's, if given.
    public_alert = models.ForeignKey(
        "search.PublicAlert",
        verbose_name=_("public alert"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tips",
    )
    tip_phone = models.CharField(_("tipster's phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("sighting")
        verbose_name_plural = _("sightings")
        ordering = ["-seen_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(seen_at__gte=EARLIEST_TIME), name="sighting_seen_after_1900"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.seen_at:%Y-%m-%d %H:%M}"

    @property
    def is_public_tip(self) -> bool:
        return self.public_alert_id is not None
