"""The case API: the same service, selectors and permissions as the pages."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from search import permissions
from search.api.permissions import CaseDeskPermission
from search.api.serializers import (
    CaseCreateSerializer,
    CaseSerializer,
    SearchAreaSerializer,
    SectorSerializer,
    TaskSerializer,
)
from search.choices import EventSource
from search.filters import CaseFilter
from search.selectors import cases_visible_to
from search.services import intake
from search.services.timeline import Origin


def api_origin(request) -> Origin:
    return Origin(actor=request.user, source=EventSource.API, ip=request.META.get("REMOTE_ADDR"))


class CaseViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Cases the caller may see. Sensitive fields appear for roles that need them, and only
    on a single case with ?include=sensitive, which is recorded on the case timeline."""

    permission_classes = [IsAuthenticated, CaseDeskPermission]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter

    def get_queryset(self):
        return (
            cases_visible_to(self.request.user)
            .select_related("organisation")
            .newest_critical_first()
        )

    def get_serializer_class(self):
        return CaseCreateSerializer if self.action == "create" else CaseSerializer

    def retrieve(self, request, *args, **kwargs):
        case = self.get_object()
        groups = set()
        if request.query_params.get("include") == "sensitive":
            groups = permissions.sensitive_groups_for(request.user)
            intake.case_record_sensitive_view(origin=api_origin(request), case=case, groups=groups)
        serializer = CaseSerializer(
            case, context={**self.get_serializer_context(), "sensitive_groups": groups}
        )
        return Response(serializer.data)

    def create(self, request, *args, **kwargs):
        serializer = CaseCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        case = intake.case_open(
            origin=api_origin(request), data=intake.CaseInput(values=serializer.service_values())
        )
        body = CaseSerializer(case, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": f"{case.pk}/"})

    def _page(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @action(detail=True)
    def tasks(self, request, pk=None):
        """Tasks of the case: sector, unit, status and times, newest offers first."""
        case = self.get_object()
        return self._page(
            case.tasks.select_related("sector", "unit").order_by("-offered_at", "-pk"),
            TaskSerializer,
        )

    @action(detail=True, url_path="search-areas")
    def search_areas(self, request, pk=None):
        """Every version of the search area, newest first, as a GeoJSON FeatureCollection."""
        case = self.get_object()
        areas = case.areas.order_by("-version")
        return Response(SearchAreaSerializer(areas, many=True).data)

    @action(detail=True)
    def sectors(self, request, pk=None):
        """Sectors of the current area as a GeoJSON FeatureCollection, for the map."""
        case = self.get_object()
        sectors = case.sectors.filter(in_current_area=True).order_by("-weight")
        return Response(SectorSerializer(sectors, many=True).data)


class MyTasksViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Open tasks of the caller's own units, offers first: what a field phone polls."""

    serializer_class = TaskSerializer

    def get_queryset(self):
        from search.models import Task
        from search.models.tasks import OPEN_TASK_STATUSES

        return (
            Task.objects.filter(unit__members=self.request.user, status__in=OPEN_TASK_STATUSES)
            .select_related("sector", "unit", "case")
            .order_by("status", "expires_at")
        )
