"""The case API: the same service, selectors and permissions as the pages."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from search import permissions
from search.api.permissions import CaseDeskPermission
from search.api.serializers import CaseCreateSerializer, CaseSerializer
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
