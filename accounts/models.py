"""Users, organisations, field units and partner cities."""

from django.contrib.auth.models import AbstractUser
from django.contrib.gis.db import models
from django.contrib.gis.geos import Point
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex, GistIndex
from django.core.validators import RegexValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey

from search.geo import SRID


class Role(models.TextChoices):
    """The roles people play; each is a Django group of the same name (created by migration)."""

    CLERK = "clerk", _("Intake clerk")
    COORDINATOR = "coordinator", _("Coordinator")
    FIELD = "field", _("Field unit member")
    COUNSELLOR = "counsellor", _("Crisis counsellor")
    SUPERVISOR = "supervisor", _("Supervisor")


class Organisation(models.Model):
    """A search centre (city or county level) or a partner city, with its jurisdiction."""

    class Level(models.TextChoices):
        CITY = "city", _("City")
        COUNTY = "county", _("County")

    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(
        _("code"),
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{2,8}$", _("Use 2 to 8 capital letters."))],
        help_text=_("Short code used in case references, e.g. XZ in XZ-2026-000123."),
    )
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    jurisdiction = models.MultiPolygonField(_("jurisdiction"), srid=SRID, spatial_index=False)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["code"]
        indexes = [GistIndex(fields=["jurisdiction"], name="org_jurisdiction_gist")]
        constraints = [
            models.CheckConstraint(
                condition=Q(jurisdiction__isvalid=True), name="org_jurisdiction_valid"
            ),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="org_not_own_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class User(AbstractUser):
    """A person who signs in to Beacon; roles are groups, the organisation scopes what they see."""

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")  # type: ignore[assignment]  # stubs type the parent Meta's names as str
        verbose_name_plural = _("users")  # type: ignore[assignment]  # stubs type the parent Meta's names as str

    def save(self, *args, **kwargs):
        # A new password ends every API token: a lost phone's token dies with the old password.
        # AbstractBaseUser keeps a new raw password here until the save.
        password_changed = self.pk is not None and getattr(self, "_password", None) is not None
        super().save(*args, **kwargs)
        if password_changed:
            from knox.models import AuthToken

            AuthToken.objects.filter(user=self).delete()

    def has_role(self, role: str) -> bool:
        """Return whether the user belongs to the group for this role."""
        return self.is_active and role in self.role_names

    @property
    def role_names(self) -> set[str]:
        """Return the names of the user's role groups, read once per instance."""
        if not hasattr(self, "_role_names"):
            self._role_names = set(self.groups.values_list("name", flat=True))
        return self._role_names


class Capability(models.TextChoices):
    """What a unit can do beyond walking a sector; a sector may need one."""

    SEARCH = "search", _("Ground search")
    K9 = "k9", _("Search dog")
    DRONE = "drone", _("Drone")
    BOAT = "boat", _("Water search")
    MEDICAL = "medical", _("First aid")
    VEHICLE = "vehicle", _("Vehicle")


class UnitQuerySet(models.QuerySet):
    def covering(self, point: Point) -> "UnitQuerySet":
        """Return units whose home area contains the point."""
        return self.filter(home_area__contains=point)

    def available(self) -> "UnitQuerySet":
        """Return units that can take work now."""
        return self.filter(availability=Unit.Availability.AVAILABLE)


class Unit(models.Model):
    """A field team with a home area, capabilities, availability and last known position."""

    class Kind(models.TextChoices):
        PATROL = "patrol", _("Patrol")
        STATION = "station", _("Station team")
        VOLUNTEER = "volunteer", _("Volunteer team")
        K9 = "k9", _("K9 team")
        DRONE = "drone", _("Drone team")
        BOAT = "boat", _("Boat team")

    class Availability(models.TextChoices):
        AVAILABLE = "available", _("Available")
        BUSY = "busy", _("Busy")
        OFF_DUTY = "off_duty", _("Off duty")

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="units"
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    home_area = models.PolygonField(_("home area"), srid=SRID, spatial_index=False)
    capabilities = ArrayField(
        models.CharField(max_length=16, choices=Capability.choices),
        verbose_name=_("capabilities"),
        default=list,
        blank=True,
    )
    availability = models.CharField(
        _("availability"),
        max_length=16,
        choices=Availability.choices,
        default=Availability.AVAILABLE,
    )
    # geography=True so distances to it are in metres.
    last_position = models.PointField(
        _("last position"), srid=SRID, geography=True, null=True, blank=True, spatial_index=False
    )
    last_position_at = models.DateTimeField(_("last position at"), null=True, blank=True)
    members = models.ManyToManyField(
        User, verbose_name=_("members"), related_name="units", blank=True
    )
    notify_email = models.EmailField(
        _("e-mail for new offers"), blank=True, help_text=_("Leave empty for no e-mail.")
    )

    objects = UnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["organisation", "name"]
        indexes = [
            GistIndex(fields=["home_area"], name="unit_home_area_gist"),
            GistIndex(fields=["last_position"], name="unit_last_position_gist"),
            GinIndex(fields=["capabilities"], name="unit_capabilities_gin"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="unit_unique_name"),
            models.CheckConstraint(
                condition=Q(home_area__isvalid=True), name="unit_home_area_valid"
            ),
            models.CheckConstraint(
                condition=Q(last_position__isnull=True) | Q(last_position_at__isnull=False),
                name="unit_position_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UnitPosition(models.Model):
    """One position a unit shared: its recent track, for the coordinator's map and debriefs.

    Kept for POSITION_TRACK_RETENTION_HOURS and then deleted by the beat (positions_prune), so
    the table holds a few days of pings, never years of them. The id made on the phone makes a
    replayed report land once.
    """

    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), on_delete=models.CASCADE, related_name="positions"
    )
    reported_by = models.ForeignKey(
        User,
        verbose_name=_("reported by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    point = models.PointField(_("position"), srid=SRID, geography=True, spatial_index=False)
    accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    at = models.DateTimeField(_("at"))
    client_id = models.UUIDField(_("client id"), unique=True)

    class Meta:
        verbose_name = _("unit position")
        verbose_name_plural = _("unit positions")
        indexes = [
            models.Index(fields=["unit", "-at"], name="unitposition_unit_at"),
            # Rows arrive in time order: a BRIN index finds the old ones to prune for almost
            # nothing on each insert.
            BrinIndex(fields=["at"], name="unitposition_at_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} at {self.at:%Y-%m-%d %H:%M}"


class Partner(models.Model):
    """Another city's Beacon (or any system speaking its API) that exchanges mutual-aid requests."""

    organisation = models.OneToOneField(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="partner",
        help_text=_("The partner city as an organisation (its code and jurisdiction)."),
    )
    base_url = models.URLField(_("base URL"), help_text=_("Root of the partner's API."))
    region = models.MultiPolygonField(
        _("region"),
        srid=SRID,
        spatial_index=False,
        help_text=_("Where this partner takes aid requests."),
    )
    # Credentials both ways. Outbound secrets must be usable, so they are stored as given;
    # keys that partners use to call us are stored hashed (see the federation API).
    outbound_api_key = models.CharField(
        _("outbound API key"),
        max_length=200,
        blank=True,
        help_text=_("The key this partner issued us."),
    )
    signing_secret = models.CharField(
        _("signing secret"),
        max_length=200,
        blank=True,
        help_text=_("Shared secret for message signatures (Standard Webhooks, whsec_…)."),
    )
    # While a secret is rotated both are used: messages carry a signature for each, and a
    # message signed with either is accepted, so neither side has to switch at the same moment.
    signing_secret_previous = models.CharField(
        _("previous signing secret"),
        max_length=200,
        blank=True,
        help_text=_("Kept during a rotation; clear it once the partner uses the new secret."),
    )
    allowed_fields = ArrayField(
        models.CharField(max_length=64),
        verbose_name=_("subject fields it may receive"),
        default=list,
        blank=True,
    )
    auto_send = models.BooleanField(_("send aid requests automatically"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        indexes = [GistIndex(fields=["region"], name="partner_region_gist")]
        constraints = [
            models.CheckConstraint(condition=Q(region__isvalid=True), name="partner_region_valid"),
        ]

    def __str__(self) -> str:
        return str(self.organisation)


class PartnerAPIKey(AbstractAPIKey):
    """A key a partner uses to call us: stored hashed, tied to one partner, revocable."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="api_keys"
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("partner API key")  # type: ignore[assignment]  # stubs type the parent Meta's names as str
        verbose_name_plural = _("partner API keys")  # type: ignore[assignment]  # stubs type the parent Meta's names as str
