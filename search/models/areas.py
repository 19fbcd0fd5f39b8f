"""Where to search: subject profiles, search-area versions and their H3 sectors."""

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from search.choices import AreaReason, SectorStatus, SubjectCategory, Terrain
from search.geo import SRID

INCREASING_MESSAGE = _(
    "Distances must increase from the 25th to the 95th percentile, all above zero."
)


class SubjectProfile(models.Model):
    """How far such people were found from where they were last seen, and how fast they move."""

    category = models.CharField(_("category"), max_length=32, choices=SubjectCategory.choices)
    terrain = models.CharField(_("terrain"), max_length=10, choices=Terrain.choices)
    p25_m = models.PositiveIntegerField(_("found within, 25th percentile (m)"))
    p50_m = models.PositiveIntegerField(_("found within, 50th percentile (m)"))
    p75_m = models.PositiveIntegerField(_("found within, 75th percentile (m)"))
    p95_m = models.PositiveIntegerField(_("found within, 95th percentile (m)"))
    speed_kmh = models.FloatField(
        _("travel speed (km/h)"),
        help_text=_("Caps the area: nobody is searched for beyond speed × elapsed time."),
    )
    source = models.TextField(_("source of these figures"))

    class Meta:
        verbose_name = _("subject profile")
        verbose_name_plural = _("subject profiles")
        ordering = ["category", "terrain"]
        constraints = [
            models.UniqueConstraint(fields=["category", "terrain"], name="profile_unique"),
            models.CheckConstraint(
                condition=Q(p25_m__gt=0)
                & Q(p50_m__gt=F("p25_m"))
                & Q(p75_m__gt=F("p50_m"))
                & Q(p95_m__gt=F("p75_m")),
                name="profile_percentiles_increase",
                violation_error_message=INCREASING_MESSAGE,
            ),
            models.CheckConstraint(
                condition=Q(speed_kmh__gt=0),
                name="profile_speed_positive",
                violation_error_message=_("The travel speed must be above zero."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} / {self.get_terrain_display()}"

    def clean(self):
        distances = [self.p25_m, self.p50_m, self.p75_m, self.p95_m]
        if None not in distances and not (
            0 < distances[0] < distances[1] < distances[2] < distances[3]
        ):
            raise ValidationError({"p95_m": INCREASING_MESSAGE})
        if self.speed_kmh is not None and self.speed_kmh <= 0:
            raise ValidationError({"speed_kmh": _("The travel speed must be above zero.")})

    @property
    def distances(self) -> list[int]:
        return [self.p25_m, self.p50_m, self.p75_m, self.p95_m]


class SearchArea(models.Model):
    """One computed version of where to search; never edited, replaced by the next version."""

    case = models.ForeignKey(
        "search.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="areas"
    )
    version = models.PositiveIntegerField(_("version"))
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next"
    )
    is_current = models.BooleanField(_("current"), default=True)
    reason = models.CharField(_("reason"), max_length=16, choices=AreaReason.choices)
    centre = models.PointField(_("centre"), srid=SRID, geography=True, spatial_index=False)
    centred_at = models.DateTimeField(_("time of the centre point"))
    computed_at = models.DateTimeField(_("computed at"))
    # Ring outer radii (metres) for 25/50/75/95 %, after the travel cap.
    radii_m = models.JSONField(_("ring radii (m)"))
    cap_m = models.PositiveIntegerField(_("travel cap (m)"))
    resolution = models.PositiveSmallIntegerField(_("H3 resolution"))
    profile = models.ForeignKey(
        SubjectProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The outer boundary, for the map and for spatial questions (which partner's region?).
    boundary = models.PolygonField(_("boundary"), srid=SRID, spatial_index=False)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("search area")
        verbose_name_plural = _("search areas")
        ordering = ["case", "-version"]
        indexes = [GistIndex(fields=["boundary"], name="searcharea_boundary_gist")]
        constraints = [
            models.UniqueConstraint(fields=["case", "version"], name="searcharea_version_unique"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(is_current=True), name="searcharea_one_current"
            ),
            models.CheckConstraint(condition=Q(boundary__isvalid=True), name="searcharea_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} v{self.version}"


class Sector(models.Model):
    """One H3 cell of a case's search ground; the same cell keeps its status across versions."""

    case = models.ForeignKey(
        "search.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="sectors"
    )
    h3_index = models.CharField(_("H3 cell"), max_length=16)
    area = models.ForeignKey(
        SearchArea,
        verbose_name=_("search area"),
        on_delete=models.PROTECT,
        related_name="sectors",
        help_text=_("The area version that last weighted this sector."),
    )
    ring = models.PositiveSmallIntegerField(_("ring"))
    weight = models.FloatField(_("probability weight"))
    status = models.CharField(
        _("status"), max_length=16, choices=SectorStatus.choices, default=SectorStatus.UNASSIGNED
    )
    in_current_area = models.BooleanField(_("in the current area"), default=True)
    coverage = models.FloatField(_("searched (0-1)"), default=0.0)
    required_capability = models.CharField(_("needs capability"), max_length=16, blank=True)
    partner = models.ForeignKey(
        "accounts.Partner",
        verbose_name=_("partner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sectors",
        help_text=_("Set when the sector lies in a partner city's region, not ours."),
    )
    outside_jurisdiction = models.BooleanField(default=False)
    # Geometry (not geography): the spatial join with unit home areas uses the GiST index.
    centroid = models.PointField(_("centroid"), srid=SRID, spatial_index=False)
    boundary = models.PolygonField(_("boundary"), srid=SRID, spatial_index=False)

    class Meta:
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")
        ordering = ["case", "-weight"]
        indexes = [
            GistIndex(fields=["centroid"], name="sector_centroid_gist"),
            GistIndex(fields=["boundary"], name="sector_boundary_gist"),
            models.Index(fields=["case", "status"], name="sector_case_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["case", "h3_index"], name="sector_cell_unique"),
            models.CheckConstraint(
                condition=Q(coverage__gte=0) & Q(coverage__lte=1), name="sector_coverage_range"
            ),
            models.CheckConstraint(condition=Q(boundary__isvalid=True), name="sector_valid"),
        ]

    def __str__(self) -> str:
        return self.h3_index
