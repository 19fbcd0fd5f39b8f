"""List filters: the case list (page and API) and the lists that hang from one case (API)."""

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, Value
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from accounts.models import Organisation
from search.choices import (
    CaseStatus,
    EventKind,
    Priority,
    SightingKind,
    SubjectCategory,
    TaskStatus,
)
from search.models import Case, CaseEvent, Sighting, Task
from search.models.cases import SearchKey
from search.validators import EARLIEST_TIME, as_utc

LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)


class MomentField(IsoDateTimeField):
    """An ISO 8601 time between 1900 and 3000: a year-1 or year-9999 time with an offset
    cannot be turned into UTC for the database, so it is refused here with a message."""

    def to_python(self, value):
        try:
            moment = super().to_python(value)
        except (ValueError, OverflowError):
            raise ValidationError(_("Give an ISO 8601 time."), code="invalid") from None
        if moment is None:
            return None
        if not EARLIEST_TIME <= moment < LATEST_TIME:
            raise ValidationError(_("Give a time between 1900 and 3000."), code="range")
        try:
            return as_utc(moment, field="time")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["time"], code="offset") from None


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = MomentField


class IntegerFilter(django_filters.NumberFilter):
    """A whole number in the column's range (a decimal or a 30-digit number is a 400)."""

    field_class = forms.IntegerField


class CaseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Name or reference"), method="search")
    status = django_filters.ChoiceFilter(label=_("Status"), choices=CaseStatus.choices)
    priority = django_filters.ChoiceFilter(label=_("Priority"), choices=Priority.choices)
    category = django_filters.ChoiceFilter(label=_("Category"), choices=SubjectCategory.choices)
    organisation = django_filters.ModelChoiceFilter(
        label=_("Organisation"), queryset=Organisation.objects.none()
    )
    created_from = django_filters.DateFilter(
        label=_("Filed from"), field_name="created_at", lookup_expr="date__gte"
    )
    created_to = django_filters.DateFilter(
        label=_("Filed until"), field_name="created_at", lookup_expr="date__lte"
    )

    class Meta:
        model = Case
        fields = ["q", "status", "priority", "category", "organisation"]

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organisations is not None:
            self.filters["organisation"].queryset = organisations
        for name in ("created_from", "created_to"):
            self.filters[name].field.widget.input_type = "date"

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # The tripled name contains the tripled search exactly when the name contains the
        # search (SearchKey): that condition is the one case_name_trgm_idx serves; icontains
        # stays beside it so the answer is `icontains`' by definition. References are upper
        # case by construction: `iexact` is an exact match of the upper-cased value, which the
        # unique index serves.
        name = Q(name_key__contains=SearchKey(Value(value))) & Q(subject_name__icontains=value)
        return queryset.alias(name_key=SearchKey("subject_name")).filter(
            name | Q(reference=value.upper())
        )


class TaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    unit = IntegerFilter(field_name="unit_id", label="unit id", min_value=1, max_value=2**63 - 1)
    offered_after = MomentFilter(field_name="offered_at", lookup_expr="gte")

    class Meta:
        model = Task
        fields = ["status", "unit", "offered_after"]


class SightingFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=SightingKind.choices)
    seen_after = MomentFilter(field_name="seen_at", lookup_expr="gte")
    confirmed = django_filters.BooleanFilter(
        field_name="confirmed_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Sighting
        fields = ["kind", "seen_after", "confirmed"]


class CaseEventFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=EventKind.choices)
    # A client that keeps the timeline asks only for what came after the last event it has.
    after_seq = IntegerFilter(field_name="seq", lookup_expr="gt", min_value=0, max_value=2**31 - 1)

    class Meta:
        model = CaseEvent
        fields = ["kind", "after_seq"]
