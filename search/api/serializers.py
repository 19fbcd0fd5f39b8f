"""Explicit input and output serializers for cases; the intake service does the writing."""

import operator

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from search import permissions
from search.choices import FoundCondition, LocationSource, Outcome
from search.models import (
    APPEARANCE_FIELDS,
    REPORT_FIELDS,
    Case,
    CaseEvent,
    SearchArea,
    Sector,
    Sighting,
    Task,
)
from search.services import intake
from search.services.intake import check_timing
from search.services.triage import reason_text
from search.validators import normalise_phone

GEOJSON_POINT = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 3,
            "description": "[longitude, latitude] in WGS-84",
        },
    },
    "required": ["type", "coordinates"],
}
GEOJSON_GEOMETRY = {
    "type": "object",
    "description": "GeoJSON geometry in WGS-84",
    "properties": {"type": {"type": "string"}, "coordinates": {"type": "array", "items": {}}},
    "required": ["type", "coordinates"],
}


@extend_schema_field(GEOJSON_POINT)
class PointField(GeometryField):
    """A GeoJSON Point (documented as such in the schema)."""

    def to_representation(self, value):
        # GEOS → OGR → JSON text → dict costs about 0.15 ms a point, most of a list's time.
        # A coordinate of up to 9 decimals (a pin, a GPS fix) comes out of OGR as Python's
        # own shortest form, so those are built directly; any other goes the OGR way
        # (tests/search/api/test_list_speed.py checks the two agree).
        if value is None or isinstance(value, dict) or value.empty or value.hasz:
            return super().to_representation(value)
        x, y = value.x, value.y
        if _plain(x) and _plain(y):
            return {"type": "Point", "coordinates": [x, y]}
        return super().to_representation(value)


def _plain(number: float) -> bool:
    text = repr(number)
    if "e" in text or "n" in text:  # 1e-07, inf, nan
        return False
    return len(text.partition(".")[2]) <= 9


@extend_schema_field(GEOJSON_GEOMETRY)
class AnyGeometryField(GeometryField):
    """A GeoJSON geometry (documented as such in the schema)."""


INTAKE_API_FIELDS = [*REPORT_FIELDS, "last_seen_place"]


class CaseCreateSerializer(serializers.ModelSerializer):
    last_seen_location = PointField(
        help_text='GeoJSON Point in WGS-84: {"type": "Point", "coordinates": [lon, lat]}'
    )
    confirm_outside_jurisdiction = serializers.BooleanField(required=False, default=False)

    class Meta:
        model = Case
        fields = [*INTAKE_API_FIELDS, "last_seen_location", "confirm_outside_jurisdiction"]

    def validate_last_seen_location(self, geometry):
        if geometry.geom_type != "Point" or geometry.empty:
            raise serializers.ValidationError(_("Give a GeoJSON Point."))
        if geometry.hasz:
            raise serializers.ValidationError(_("Give 2D coordinates: [longitude, latitude]."))
        lon, lat = geometry.coords[:2]
        if not -180 <= lon <= 180 or not -90 <= lat <= 90:
            raise serializers.ValidationError(
                _("Coordinates must be [longitude -180..180, latitude -90..90].")
            )
        geometry.srid = 4326
        return geometry

    def validate_reporter_phone(self, value):
        if not value:
            return value
        try:
            return normalise_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def validate(self, attrs):
        try:
            check_timing(
                last_seen_at=attrs["last_seen_at"], date_of_birth=attrs.get("date_of_birth")
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        try:
            intake.check_age_source(attrs)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        point = attrs["last_seen_location"]
        if not attrs.get("confirm_outside_jurisdiction") and intake.point_needs_confirming(point):
            raise serializers.ValidationError(
                {
                    "last_seen_location": _(
                        "This place is outside every known jurisdiction. Check it, or send "
                        "confirm_outside_jurisdiction: true."
                    )
                }
            )
        return attrs

    def service_input(self) -> "intake.CaseInput":
        """Return the validated report as the intake service takes it."""
        data = dict(self.validated_data)
        confirmed = bool(data.pop("confirm_outside_jurisdiction", False))
        data["last_seen_point"] = data.pop("last_seen_location")
        data["location_source"] = LocationSource.API
        return intake.CaseInput(values=data, confirmed_outside=confirmed)


class QuickRows:
    """A read-only serializer's rows without DRF's generic walk (get_attribute per field,
    _readable_fields per row, masking after), which cost more than the values: the fields
    shown and how each is read are worked out once per serializer (a list shares one), and
    each value is still made by the same field's to_representation."""

    def hidden_names(self) -> set[str]:
        return set()

    def _row_plan(self) -> list:
        hidden = self.hidden_names()
        plan = []
        for field in self._readable_fields:
            if field.field_name in hidden:
                continue
            if isinstance(field, serializers.SerializerMethodField):
                plan.append((field.field_name, getattr(self, field.method_name), None))
            else:
                plan.append((field.field_name, operator.attrgetter(field.source), field))
        return plan

    def to_representation(self, instance):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self.__dict__["_plan"] = self._row_plan()
        data = {}
        for name, read, field in plan:
            value = read(instance)
            if field is not None and value is not None:
                value = field.to_representation(value)
            data[name] = value
        return data


class CaseSerializer(QuickRows, serializers.ModelSerializer):
    """A case as the API shows it; sensitive parts only to the roles that need them."""

    organisation = serializers.CharField(source="organisation.code")
    last_seen_location = PointField(source="last_seen_point")
    priority_reasons = serializers.SerializerMethodField()
    photo_url = serializers.SerializerMethodField()
    # Blank until the case ends: the schema must allow "" beside the outcomes.
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "organisation",
            "status",
            "priority",
            "computed_priority",
            "priority_reasons",
            "priority_override_reason",
            *INTAKE_API_FIELDS,
            "last_seen_location",
            "location_source",
            "photo_url",
            "outcome",
            "outcome_note",
            "closed_at",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_priority_reasons(self, case) -> list[str]:
        texts = self.__dict__.setdefault("_reason_texts", {})
        answer = []
        for reason in case.priority_reasons:
            # A hundred cases share a handful of reasons: translate each once per request.
            key = repr(sorted(reason.items()))
            if key not in texts:
                texts[key] = reason_text(reason)
            answer.append(texts[key])
        return answer

    def get_photo_url(self, case) -> str | None:
        if not case.photo:
            return None
        return self.context["request"].build_absolute_uri(f"/cases/{case.pk}/photo/")

    def hidden_names(self) -> set[str]:
        return permissions.hidden_fields(self.context.get("sensitive_groups", set()))


class TaskSerializer(QuickRows, serializers.ModelSerializer):
    sector = serializers.CharField(source="sector.h3_index")
    sector_weight = serializers.FloatField(source="sector.weight")
    unit = serializers.CharField(source="unit.name")
    unit_id = serializers.IntegerField()

    class Meta:
        model = Task
        fields = [
            "id",
            "sector",
            "sector_weight",
            "unit",
            "unit_id",
            "status",
            "rank",
            "distance_m",
            "offered_at",
            "expires_at",
            "answered_at",
            "started_at",
            "finished_at",
            "last_activity_at",
            "coverage",
        ]
        read_only_fields = fields


class SearchAreaSerializer(GeoFeatureModelSerializer):
    """One area version as a GeoJSON Feature (boundary of the outer ring)."""

    centre = PointField()

    class Meta:
        model = SearchArea
        geo_field = "boundary"
        fields = [
            "id",
            "version",
            "reason",
            "is_current",
            "centre",
            "centred_at",
            "computed_at",
            "radii_m",
            "cap_m",
            "resolution",
            "previous",
            "note",
        ]
        read_only_fields = fields


class SectorSerializer(GeoFeatureModelSerializer):
    probability = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Current probability: the prior lowered by Bayes after the searches so far.",
    )

    class Meta:
        model = Sector
        geo_field = "boundary"
        fields = [
            "id",
            "h3_index",
            "ring",
            "weight",
            "probability",
            "status",
            "coverage",
            "in_current_area",
            "outside_jurisdiction",
            "partner",
            "required_capability",
        ]
        read_only_fields = fields


CASE_UPDATE_FIELDS = [
    "subject_name",
    "sex",
    *APPEARANCE_FIELDS,
    "medical_needs",
    "medication",
    "field_notes",
    "last_seen_place",
    "circumstances",
]


class CaseUpdateSerializer(serializers.ModelSerializer):
    """What the API may change on a case; the place and time of last sighting stay with the
    web form, where the map and the geocoder help get them right."""

    class Meta:
        model = Case
        fields = CASE_UPDATE_FIELDS
        extra_kwargs = {name: {"required": False} for name in CASE_UPDATE_FIELDS}


class CloseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[c for c in Outcome.choices if c[0] != "withdrawn"])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SightingSerializer(serializers.ModelSerializer):
    point = PointField()
    unit = serializers.CharField(source="unit.name", default=None, allow_null=True)
    # Only a "found" report says how the person is.
    condition = serializers.ChoiceField(
        choices=FoundCondition.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Sighting
        fields = [
            "id",
            "kind",
            "point",
            "seen_at",
            "description",
            "source",
            "confidence",
            "unit",
            "condition",
            "with_whom",
            "created_at",
            "confirmed_at",
        ]
        read_only_fields = fields


class CaseEventSerializer(serializers.ModelSerializer):
    """An event as stored, except that sensitive values show only when revealed (recorded);
    a masked event no longer matches its hash, which `verify_timeline` checks on the server."""

    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)
    data = serializers.SerializerMethodField()

    class Meta:
        model = CaseEvent
        fields = ["seq", "kind", "actor", "source", "created_at", "data", "prev_hash", "hash"]
        read_only_fields = fields

    def get_data(self, event) -> dict:
        return permissions.mask_event_data(event.data, revealed=self.context.get("revealed", set()))
