"""The case API: the same service, selectors and permissions as the pages."""

import re

from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts import poll_auth
from accounts.models import Role
from search import permissions
from search.api.interchange import PfifRenderer
from search.api.pagination import CasePagination
from search.api.permissions import CaseDeskPermission
from search.api.serializers import (
    CaseCreateSerializer,
    CaseEventSerializer,
    CaseSerializer,
    CaseUpdateSerializer,
    CloseSerializer,
    SearchAreaSerializer,
    SectorSerializer,
    SightingSerializer,
    TaskSerializer,
)
from search.choices import EventSource
from search.filters import CaseEventFilter, CaseFilter, SightingFilter, TaskFilter
from search.links import public_base_url
from search.models import Case, CaseEvent, Sighting, Task
from search.models.tasks import OPEN_TASK_STATUSES
from search.selectors import cases_visible_to, current_sectors
from search.services import intake, interchange, lifecycle, task_versions
from search.services.timeline import Origin


def api_origin(request) -> Origin:
    return Origin.from_request(request, source=EventSource.API)


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource changed since you read it."
    default_code = "precondition_failed"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = 'Send If-Match with the ETag from GET (for example "3").'
    default_code = "precondition_required"


def etag(case) -> str:
    return f'"{case.version}"'


def parse_if_match(value: str | None) -> int:
    if not value:
        raise PreconditionRequired()
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value)
    if not match:
        raise exceptions.ValidationError({"If-Match": ['Give the ETag from GET, e.g. "3".']})
    return int(match.group(1))


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
    pagination_class = CasePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Case.objects.none()
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
        return Response(serializer.data, headers={"ETag": etag(case)})

    @extend_schema(
        request=CaseUpdateSerializer,
        responses={
            200: CaseSerializer,
            400: OpenApiResponse(description="Field errors."),
            412: OpenApiResponse(description="The case changed since that ETag."),
            428: OpenApiResponse(description="If-Match is required."),
        },
        parameters=[
            OpenApiParameter(
                "If-Match",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description='The ETag from GET, e.g. "3" (the case version).',
            )
        ],
    )
    def partial_update(self, request, *args, **kwargs):
        """Change descriptive fields of a case, only if nobody changed it since your GET."""
        case = self.get_object()
        expected = parse_if_match(request.headers.get("If-Match"))
        form = CaseUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        try:
            updated = intake.case_update(
                origin=api_origin(request),
                case=case,
                data=intake.CaseInput(values=dict(form.validated_data)),
                expected_version=expected,
            )
        except intake.EditConflict as conflict:
            raise PreconditionFailed(
                f"The case is at version {conflict.current.version}; GET it again."
            ) from conflict
        body = CaseSerializer(updated, context=self.get_serializer_context()).data
        return Response(body, headers={"ETag": etag(updated)})

    @extend_schema(request=CloseSerializer, responses={200: CaseSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Record how the case ended and close it: open tasks are cancelled, partners told."""
        case = self.get_object()
        form = CloseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        closed = lifecycle.case_close(
            origin=api_origin(request),
            case=case,
            outcome=form.validated_data["outcome"],
            note=form.validated_data["note"],
        )
        return Response(CaseSerializer(closed, context=self.get_serializer_context()).data)

    def create(self, request, *args, **kwargs):
        serializer = CaseCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        case = intake.case_open(origin=api_origin(request), data=serializer.service_input())
        body = CaseSerializer(case, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": f"{case.pk}/"})

    @extend_schema(
        responses={
            (200, "application/xml"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="A PFIF 1.4 document: the person and the notes (status changes, "
                "and sightings when the case has a public alert), as far as the public "
                "clearance allows.",
            )
        }
    )
    @action(detail=True, renderer_classes=[PfifRenderer, JSONRenderer])
    def pfif(self, request, pk=None):
        """The case as a PFIF 1.4 person, for other person registries: only what the public
        alert cleared (no clearance: the case reference as name, and status changes only)."""
        case = self.get_object()
        return HttpResponse(
            interchange.case_pfif(case, base_url=public_base_url(request)),
            content_type="application/xml; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{case.reference}.pfif.xml"',
                "Cache-Control": "private, no-store",
            },
        )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "action", None) == "pfif" and isinstance(response, Response):
            # Refusals are JSON here as everywhere in the API; only the document is XML.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    @extend_schema(responses=SearchAreaSerializer(many=True))
    @action(detail=True, url_path="search-areas", pagination_class=None)
    def search_areas(self, request, pk=None):
        """Every version of the search area, newest first, as a GeoJSON FeatureCollection."""
        case = self.get_object()
        areas = case.areas.order_by("-version")
        return Response(SearchAreaSerializer(areas, many=True).data)

    @extend_schema(responses=SectorSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def sectors(self, request, pk=None):
        """Sectors of the current area as a GeoJSON FeatureCollection, for the map."""
        case = self.get_object()
        sectors = current_sectors(case).order_by(
            F("probability").desc(nulls_last=True), "-weight", "id"
        )
        return Response(SectorSerializer(sectors, many=True).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="case id")]
    )
)
class CaseChildList(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A paginated, filterable list of rows of one case the caller may see (404 for others)."""

    permission_classes = [IsAuthenticated, CaseDeskPermission]
    filter_backends = [DjangoFilterBackend]
    model = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.rows(self.case())

    def case(self) -> Case:
        if not hasattr(self, "_case"):
            self._case = get_object_or_404(
                cases_visible_to(self.request.user), pk=self.kwargs["id"]
            )
        return self._case

    def rows(self, case):
        raise NotImplementedError


TASK_LIST_COLUMNS = [
    *(f for f in TaskSerializer.Meta.fields if f not in ("sector", "sector_weight", "unit")),
    "case_id",
    "sector__h3_index",
    "sector__weight",
    "unit__name",
]


class CaseTaskList(CaseChildList):
    """Tasks of the case: sector, unit, status and times, newest offers first."""

    model = Task
    serializer_class = TaskSerializer
    filterset_class = TaskFilter

    def rows(self, case):
        # The sector's hexagon and the unit's shapes are not shown: parsing them per row was
        # most of the list's time.
        return (
            case.tasks.select_related("sector", "unit")
            .only(*TASK_LIST_COLUMNS)
            .order_by("-offered_at", "-pk")
        )


class CaseSightingList(CaseChildList):
    """Sightings, clues and finds reported on the case (partners' included), newest first."""

    model = Sighting
    serializer_class = SightingSerializer
    filterset_class = SightingFilter

    def rows(self, case):
        return case.sightings.select_related("unit").order_by("-seen_at", "-pk")


class CaseTimelineList(CaseChildList):
    """The case's hash-chained timeline, in order."""

    model = CaseEvent
    serializer_class = CaseEventSerializer
    filterset_class = CaseEventFilter

    def rows(self, case):
        return case.events.select_related("actor").order_by("seq")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "include",
                str,
                enum=["sensitive"],
                description="Show the sensitive values your role may see; the view is recorded.",
            )
        ]
    )
    def list(self, request, *args, **kwargs):
        self.revealed: set[str] = set()
        if request.query_params.get("include") == "sensitive":
            self.revealed = permissions.sensitive_groups_for(request.user)
            intake.case_record_sensitive_view(
                origin=api_origin(request), case=self.case(), groups=self.revealed
            )
        return super().list(request, *args, **kwargs)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "revealed": getattr(self, "revealed", set())}


class FieldMemberPermission(BasePermission):
    """Only members of field units poll for tasks."""

    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_role(Role.FIELD)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of the list you hold: 304 if it is still current.",
            )
        ],
        responses={
            200: TaskSerializer(many=True),
            304: OpenApiResponse(description="Unchanged since the ETag given."),
        },
    )
)
class MyTasksViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Open tasks of the caller's own units, offers first: what a field phone polls.

    The answer carries a weak ETag from the caller's units and their task-list versions
    (search/services/task_versions.py); a poll sending it back in If-None-Match while nothing
    changed gets 304. With an API token already seen, that 304 is answered from the cache alone
    (accounts/poll_auth.py); anything else is checked against the database as every API call is.
    """

    serializer_class = TaskSerializer
    permission_classes = [IsAuthenticated, FieldMemberPermission]

    def perform_authentication(self, request):
        self.poller = None
        if request.method in ("GET", "HEAD") and request.headers.get("If-None-Match"):
            self.poller = poll_auth.known_poller(request._request)
        if self.poller is not None:
            # Enough for the permission and the rate limit; used for nothing but a 304.
            request.user = self.poller
            request.auth = None
            return
        super().perform_authentication(request)

    def list(self, request, *args, **kwargs):
        variant = request.META.get("QUERY_STRING", "")
        if self.poller is not None:
            tag = task_versions.list_etag(
                unit_ids=self.poller.unit_ids, variant=variant, create=False
            )
            if tag and task_versions.etag_matches(request.headers.get("If-None-Match"), tag):
                return self.not_modified(tag)
            # Changed (or unknown): from here on, exactly the full check of any API call.
            self.poller = None
            request._authenticate()
            self.check_permissions(request)
        units = list(request.user.units.values_list("pk", flat=True))
        # The versions are read before the list: a change committed in between costs a 200.
        tag = task_versions.list_etag(unit_ids=units, variant=variant, create=True)
        poll_auth.remember(request, unit_ids=units)
        if tag and task_versions.etag_matches(request.headers.get("If-None-Match"), tag):
            return self.not_modified(tag)
        response = super().list(request, *args, **kwargs)
        if tag:
            response["ETag"] = tag
        response["Cache-Control"] = "private, no-cache"
        return response

    def not_modified(self, tag: str) -> Response:
        return Response(
            status=status.HTTP_304_NOT_MODIFIED,
            headers={"ETag": tag, "Cache-Control": "private, no-cache"},
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Task.objects.none()
        return (
            Task.objects.filter(unit__members=self.request.user, status__in=OPEN_TASK_STATUSES)
            .select_related("sector", "unit", "case")
            .order_by("status", "expires_at")
        )
