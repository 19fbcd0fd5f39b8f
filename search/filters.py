"""List filters: the case list (page and API) and the lists that hang from one case (API)."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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
        return queryset.filter(Q(subject_name__icontains=value) | Q(reference__iexact=value))


class TaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    unit = django_filters.NumberFilter(field_name="unit_id", label="unit id")
    offered_after = django_filters.IsoDateTimeFilter(field_name="offered_at", lookup_expr="gte")

    class Meta:
        model = Task
        fields = ["status", "unit", "offered_after"]


class SightingFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=SightingKind.choices)
    seen_after = django_filters.IsoDateTimeFilter(field_name="seen_at", lookup_expr="gte")
    confirmed = django_filters.BooleanFilter(
        field_name="confirmed_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Sighting
        fields = ["kind", "seen_after", "confirmed"]


class CaseEventFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=EventKind.choices)
    # A client that keeps the timeline asks only for what came after the last event it has.
    after_seq = django_filters.NumberFilter(field_name="seq", lookup_expr="gt")

    class Meta:
        model = CaseEvent
        fields = ["kind", "after_seq"]
