"""Mutual-aid requests: coordinators ask and answer; a partner reads only what is between us."""

import django_filters
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from accounts.models import Partner, Role
from search import permissions
from search.api.federation import PartnerKeyAuthentication, partner_of
from search.api.serializers import AnyGeometryField
from search.api.views import api_origin
from search.choices import AidDirection, AidStatus
from search.models import MutualAidRequest
from search.selectors import aid_requests_of_partner, aid_requests_visible_to, cases_visible_to
from search.services.aid import desk

AID_DESK_ROLES = {Role.COORDINATOR, Role.SUPERVISOR}


class MutualAidPermission(BasePermission):
    """Partners read; coordinators and supervisors read; coordinators act."""

    def has_permission(self, request, view):
        if partner_of(request) is not None:
            return view.action in ("list", "retrieve")
        if view.action in ("list", "retrieve"):
            return permissions.has_any_role(request.user, AID_DESK_ROLES)
        return permissions.can_close_case(request.user)


class MutualAidFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AidStatus.choices)
    direction = django_filters.ChoiceFilter(choices=AidDirection.choices)
    partner = django_filters.CharFilter(field_name="partner__organisation__code")
    open = django_filters.BooleanFilter(method="filter_open", label="open")

    class Meta:
        model = MutualAidRequest
        fields = ["status", "direction", "partner", "open"]

    def filter_open(self, queryset, name, value):
        return queryset.open() if value else queryset.exclude(pk__in=queryset.open())


class MutualAidSerializer(serializers.ModelSerializer):
    request_id = serializers.UUIDField(source="uid", read_only=True)
    partner = serializers.CharField(source="partner.organisation.code", read_only=True)
    area = AnyGeometryField(read_only=True)
    case_reference = serializers.SerializerMethodField()
    case_id = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()

    class Meta:
        model = MutualAidRequest
        fields = [
            "id",
            "request_id",
            "direction",
            "partner",
            "status",
            "reason",
            "decline_reason",
            "summary",
            "area",
            "contact",
            "case_id",
            "case_reference",
            "created_at",
            "status_changed_at",
            "last_message_at",
            "last_message_type",
        ]
        read_only_fields = fields

    def get_summary(self, obj) -> dict:
        # Staff see a partner's medical detail only if their role may see ours (not supervisors).
        request = self.context.get("request")
        if self.context.get("partner") is not None or request is None:
            return obj.summary
        return permissions.without_hidden(
            obj.summary or {}, revealed=permissions.sensitive_groups_for(request.user)
        )

    def get_case_id(self, obj) -> int | None:
        if self.context.get("partner") is not None:
            return None
        return obj.case_id

    def get_case_reference(self, obj) -> str | None:
        # A partner sees the requests, not our case records.
        if self.context.get("partner") is not None or obj.case_id is None:
            return None
        return obj.case.reference


class AidCreateSerializer(serializers.Serializer):
    case = serializers.IntegerField(help_text="Id of the case that needs help.")
    partner = serializers.CharField(help_text="Partner organisation code.")
    reason = serializers.CharField(max_length=2000)

    def validate_case(self, value):
        case = cases_visible_to(self.context["request"].user).filter(pk=value).first()
        if case is None:
            raise serializers.ValidationError("No such case you may see.")
        return case

    def validate_partner(self, value):
        partner = Partner.objects.filter(organisation__code=value).first()
        if partner is None:
            raise serializers.ValidationError("No partner with this code.")
        return partner


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000)


class AcceptSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class MutualAidViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Requests for aid, both ways. Writes go through the mutual-aid service."""

    authentication_classes = [
        TokenAuthentication,
        PartnerKeyAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [MutualAidPermission]
    serializer_class = MutualAidSerializer
    filterset_class = MutualAidFilter
    lookup_field = "uid"
    lookup_url_kwarg = "request_id"
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        base = MutualAidRequest.objects.select_related("partner__organisation", "case").order_by(
            "-created_at", "-pk"
        )
        partner = partner_of(self.request)
        if partner is not None:
            return base.filter(pk__in=aid_requests_of_partner(partner))
        if getattr(self, "swagger_fake_view", False) or not self.request.user.is_authenticated:
            return base.none()
        return base.filter(pk__in=aid_requests_visible_to(self.request.user))

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "partner": partner_of(self.request)}

    def _answer(self, request_obj, code=status.HTTP_200_OK):
        request_obj.refresh_from_db()
        return Response(
            MutualAidSerializer(request_obj, context=self.get_serializer_context()).data,
            status=code,
        )

    @extend_schema(request=AidCreateSerializer, responses={201: MutualAidSerializer})
    def create(self, request):
        """Ask a partner city for help with a case."""
        form = AidCreateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        created = desk.aid_request_send(
            origin=api_origin(request),
            case=form.validated_data["case"],
            partner=form.validated_data["partner"],
            reason=form.validated_data["reason"],
        )
        return self._answer(created, status.HTTP_201_CREATED)

    def _run(self, request, form_class, service, field: str):
        """Check the body, call one mutual-aid service with its one value, answer the request."""
        # The request first: one the caller may not see is a 404 whatever the body says.
        target = self.get_object()
        form = form_class(data=request.data)
        form.is_valid(raise_exception=True)
        done = service(
            origin=api_origin(request),
            request=target,
            **{field: form.validated_data[field]},
        )
        return self._answer(done)

    @extend_schema(request=AcceptSerializer, responses={200: MutualAidSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, request_id=None):
        """Take on a partner's request: an assisting case is opened and dispatched."""
        return self._run(request, AcceptSerializer, desk.aid_accept, "note")

    @extend_schema(request=ReasonSerializer, responses={200: MutualAidSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request, request_id=None):
        """Say no to a partner's request, with the reason."""
        return self._run(request, ReasonSerializer, desk.aid_decline, "reason")

    @extend_schema(request=ReasonSerializer, responses={200: MutualAidSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, request_id=None):
        """Withdraw a request we sent."""
        return self._run(request, ReasonSerializer, desk.aid_cancel, "reason")

    @extend_schema(request=NoteSerializer, responses={200: MutualAidSerializer})
    @action(detail=True, methods=["post"])
    def note(self, request, request_id=None):
        """Send a note to the partner on an open request."""
        return self._run(request, NoteSerializer, desk.aid_note, "text")
