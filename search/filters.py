"""Case list filters, shared by the page and the API."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from search.choices import CaseStatus, Priority, SubjectCategory
from search.models import Case


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
