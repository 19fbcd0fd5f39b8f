"""PFIF over the API: a registry's document in (as drafts), and the renderer of a case's out."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from search import permissions
from search.choices import EventSource
from search.pfif import MAX_DOCUMENT_BYTES
from search.services import interchange
from search.services.timeline import Origin


class DocumentTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self):
        super().__init__(
            _("The document is larger than %(mb)d MB.") % {"mb": MAX_DOCUMENT_BYTES // 2**20}
        )


class PfifParser(BaseParser):
    """The request body as bytes, read no further than the size limit."""

    media_type = "application/xml"

    def parse(self, stream, media_type=None, parser_context=None):
        # The stream is bounded by Content-Length; one byte past the limit is enough to refuse.
        data = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge()
        return data


class PfifTextParser(PfifParser):
    media_type = "text/xml"


class PfifRenderer(BaseRenderer):
    """Lets a client ask for application/xml; the document itself is written by the service."""

    media_type = "application/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else b""


class SkippedRecordSerializer(serializers.Serializer):
    person_record_id = serializers.CharField()
    reason = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Drafts created.")
    updated = serializers.IntegerField(help_text="Drafts updated by a record sent again.")
    skipped = serializers.IntegerField(help_text="Records whose draft was confirmed or discarded.")
    skipped_records = SkippedRecordSerializer(many=True)
    notes_unmatched = serializers.IntegerField(
        help_text="Top-level notes about a person neither in the document nor among the drafts."
    )

    def to_representation(self, instance):
        return super().to_representation(
            {
                "created": instance.created,
                "updated": instance.updated,
                "skipped": instance.skipped,
                "skipped_records": [
                    {"person_record_id": record_id, "reason": why}
                    for record_id, why in instance.skipped_records
                ],
                "notes_unmatched": instance.notes_unmatched,
            }
        )


class CanFileCases(BasePermission):
    def has_permission(self, request, view):
        return permissions.can_file_cases(request.user)


class PfifImportView(APIView):
    """Import a PFIF 1.2, 1.3 or 1.4 document as drafts of your organisation, all or nothing.

    Nothing is searched for until a clerk completes a draft (last seen where and when) and
    confirms it on /drafts/. A record sent again updates its draft; one already confirmed into
    a case, or discarded, is skipped.
    """

    permission_classes = [IsAuthenticated, CanFileCases]
    parser_classes = [PfifParser, PfifTextParser]

    @extend_schema(
        operation_id="pfif_import",
        request={"application/xml": OpenApiTypes.BINARY, "text/xml": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "source",
                str,
                description="The registry's name, for persons whose record gives none.",
            )
        ],
        responses={
            200: ImportResultSerializer,
            400: OpenApiResponse(description="The document is refused; nothing is stored."),
            413: OpenApiResponse(description="The document is larger than 5 MB."),
        },
    )
    def post(self, request):
        if request.user.organisation is None:
            raise exceptions.PermissionDenied(_("Your account belongs to no organisation."))
        data = request.data
        if not isinstance(data, bytes) or not data:
            raise exceptions.ValidationError(
                {"document": [_("Send the PFIF document as the request body.")]}
            )
        result = interchange.pfif_import(
            origin=Origin.from_request(request, source=EventSource.API),
            organisation=request.user.organisation,
            data=data,
            source_label=request.query_params.get("source", "")[:200],
        )
        return Response(ImportResultSerializer(result).data)
