"""The mutual-aid message format: one envelope, a ``data`` object whose shape depends on ``type``.

Every message is checked here when it arrives (so a bad one is refused before anything is
stored) and parsed again when it is applied (a message that waited for an earlier one is kept
as it came).
"""

from datetime import timedelta

from django.contrib.gis.geos import MultiPolygon
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from search.choices import (
    AidMessageType,
    Confidence,
    FoundCondition,
    Outcome,
    SightingKind,
    SubjectCategory,
    Terrain,
)
from search.geo import SRID, geometry_from_geojson
from search.validators import EARLIEST_TIME, MAX_AGE_YEARS

MAX_CELLS = 500
PARTNER_CLOCK_AHEAD = timedelta(days=1)


def _geometry(value, *, kinds: tuple[str, ...]):
    try:
        return geometry_from_geojson(value, kinds=kinds)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class MomentField(serializers.DateTimeField):
    """A time a partner gives: after 1900 (the database refuses earlier) and not in the future
    beyond a day (clocks drift; the receiving service takes a time ahead of ours as now)."""

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        if moment < EARLIEST_TIME:
            raise serializers.ValidationError(_("Give a time after 1900."))
        if moment > timezone.now() + PARTNER_CLOCK_AHEAD:
            raise serializers.ValidationError(_("This time is in the future."))
        return moment


class PointField(serializers.Field):
    def to_internal_value(self, data):
        return _geometry(data, kinds=("Point",))

    def to_representation(self, value):
        return {"type": "Point", "coordinates": [value.x, value.y]}


class AreaField(serializers.Field):
    """A GeoJSON Polygon or MultiPolygon, closed and valid, returned as a MultiPolygon."""

    def to_internal_value(self, data):
        geometry = _geometry(data, kinds=("Polygon", "MultiPolygon"))
        if geometry.geom_type == "Polygon":
            geometry = MultiPolygon(geometry, srid=SRID)
        return geometry

    def to_representation(self, value):
        import json

        return json.loads(value.geojson)


class ContactSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    organisation = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)


class SummarySerializer(serializers.Serializer):
    """The minimised case: what the partner needs to search, nothing it may not receive."""

    reference = serializers.CharField(max_length=24)
    category = serializers.ChoiceField(choices=SubjectCategory.choices)
    # Our scale (1 critical .. 3 normal), and ages a case can hold: a request that could not be
    # accepted is refused on arrival, not stored for a coordinator to find unacceptable.
    priority = serializers.IntegerField(min_value=1, max_value=3, required=False)
    last_seen_at = MomentField()
    last_seen_point = PointField()
    last_seen_place = serializers.CharField(max_length=300, required=False, allow_blank=True)
    terrain = serializers.ChoiceField(choices=Terrain.choices, required=False)
    subject_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    sex = serializers.CharField(max_length=10, required=False, allow_blank=True)
    age = serializers.IntegerField(
        min_value=0, max_value=MAX_AGE_YEARS, required=False, allow_null=True
    )
    height_cm = serializers.IntegerField(
        min_value=30, max_value=250, required=False, allow_null=True
    )
    build = serializers.CharField(max_length=100, required=False, allow_blank=True)
    hair = serializers.CharField(max_length=100, required=False, allow_blank=True)
    clothing = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    distinguishing_marks = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    languages = serializers.CharField(max_length=200, required=False, allow_blank=True)
    medical_needs = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    medication = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    self_harm_risk = serializers.BooleanField(required=False)
    field_notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class RequestData(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    summary = SummarySerializer()
    area = AreaField()
    contact = ContactSerializer()


class AcceptedData(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    contact = ContactSerializer(required=False)


class DeclinedData(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ActiveData(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SightingData(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[SightingKind.SIGHTING, SightingKind.CLUE])
    point = PointField()
    seen_at = MomentField()
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    confidence = serializers.ChoiceField(choices=Confidence.choices, default=Confidence.POSSIBLE)


class SectorsSearchedData(serializers.Serializer):
    cells = serializers.ListField(
        child=serializers.RegexField(r"^[0-9a-f]{15}$", max_length=15),
        min_length=1,
        max_length=MAX_CELLS,
    )
    coverage = serializers.FloatField(min_value=0, max_value=1)


class FoundData(serializers.Serializer):
    point = PointField()
    found_at = MomentField()
    condition = serializers.ChoiceField(choices=FoundCondition.choices)
    with_whom = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class NoteData(serializers.Serializer):
    text = serializers.CharField(max_length=2000)


class ClosedData(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class CancelledData(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


DATA_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    AidMessageType.REQUEST: RequestData,
    AidMessageType.ACCEPTED: AcceptedData,
    AidMessageType.DECLINED: DeclinedData,
    AidMessageType.ACTIVE: ActiveData,
    AidMessageType.SIGHTING: SightingData,
    AidMessageType.SECTORS_SEARCHED: SectorsSearchedData,
    AidMessageType.FOUND: FoundData,
    AidMessageType.NOTE: NoteData,
    AidMessageType.CLOSED: ClosedData,
    AidMessageType.CANCELLED: CancelledData,
}


class EnvelopeSerializer(serializers.Serializer):
    """The outer message: the same for every type."""

    id = serializers.UUIDField(help_text="Unique message id; equals the webhook-id header.")
    type = serializers.ChoiceField(choices=AidMessageType.choices)
    request_id = serializers.UUIDField(help_text="Stable id of the mutual-aid request.")
    sequence = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="1, 2, 3 … per request and sender; applied in this order.",
    )
    sent_at = MomentField()
    origin = serializers.CharField(
        max_length=20, required=False, help_text="Code of the sending city."
    )
    data = serializers.DictField(help_text="Depends on type; see the partner guide.")

    def validate(self, attrs):
        parser = DATA_SERIALIZERS[attrs["type"]](data=attrs["data"])
        if not parser.is_valid():
            raise serializers.ValidationError({"data": parser.errors})
        attrs["parsed"] = parser.validated_data
        return attrs


def parse_data(message_type: str, data: dict) -> dict:
    """Return the typed values of a message's data (it was checked when it arrived)."""
    parser = DATA_SERIALIZERS[message_type](data=data)
    parser.is_valid(raise_exception=True)
    return parser.validated_data
