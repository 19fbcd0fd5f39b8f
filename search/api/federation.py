"""The partner side of the API: API-key authentication, signed messages, and the aid requests."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import PartnerAPIKey
from search.federation import signing
from search.federation.messages import EnvelopeSerializer
from search.services.aid import inbox
from search.validators import json_parse

KEYWORD = "Api-Key"


class PartnerPrincipal:
    """Who a partner key speaks for: a partner city, never one of our users."""

    is_authenticated = True
    is_active = True
    is_staff = False
    role_names = frozenset()
    organisation = None
    pk = None

    def __init__(self, partner):
        self.partner = partner

    def __str__(self) -> str:
        return f"partner {self.partner.organisation.code}"


class PartnerKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``: a hashed, revocable key tied to one partner."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{KEYWORD} "):
            return None
        key = header[len(KEYWORD) + 1 :].strip()
        try:
            api_key = PartnerAPIKey.objects.get_from_key(key)
        except PartnerAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        # A retired partner (not active) keeps its key until it is revoked: its open requests
        # run to their end, and the inbox refuses it new ones.
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired or been revoked.")
        return PartnerPrincipal(api_key.partner), api_key

    def authenticate_header(self, request):
        return KEYWORD


class PartnerKeyScheme(OpenApiAuthenticationExtension):
    target_class = PartnerKeyAuthentication
    name = "partnerKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>` from `manage.py issue_partner_key`.",
        }


def partner_of(request):
    principal = request.user
    return principal.partner if isinstance(principal, PartnerPrincipal) else None


class IsPartner(BasePermission):
    def has_permission(self, request, view):
        return partner_of(request) is not None


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The message is larger than this server accepts."
    default_code = "too_large"


# The HTTP answer to each domain outcome of a partner's message.
OUTCOME_STATUS = {
    inbox.CREATED: status.HTTP_201_CREATED,
    inbox.APPLIED: status.HTTP_200_OK,
    inbox.WAITING: status.HTTP_202_ACCEPTED,
    inbox.REFUSED: status.HTTP_409_CONFLICT,
}
# Every refusal is a conflict with what we hold, except a request we do not know.
REFUSAL_STATUS = {
    "unknown_request": status.HTTP_404_NOT_FOUND,
    "partner_retired": status.HTTP_403_FORBIDDEN,
}


class MessageRefusedError(exceptions.APIException):
    def __init__(self, refused: inbox.MessageRefused):
        self.status_code = REFUSAL_STATUS.get(refused.code, status.HTTP_409_CONFLICT)
        super().__init__(detail=refused.detail, code=refused.code)


RECEIPT = inline_serializer(
    "MessageReceipt",
    {
        "status": serializers.ChoiceField(choices=["applied", "waiting"]),
        "request_id": serializers.UUIDField(),
        "sequence": serializers.IntegerField(),
        "request_status": serializers.CharField(required=False),
        "waiting_for": serializers.IntegerField(required=False),
    },
)


class FederationMessageView(APIView):
    """Every message from a partner city arrives here; its ``type`` says what it is."""

    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [IsPartner]

    @extend_schema(
        operation_id="federation_message_receive",
        request=EnvelopeSerializer,
        responses={
            200: OpenApiResponse(RECEIPT, description="Applied (or a replay of an applied id)."),
            201: OpenApiResponse(RECEIPT, description="A new request, acknowledged."),
            202: OpenApiResponse(RECEIPT, description="Kept until the earlier sequence arrives."),
            400: OpenApiResponse(description="Malformed JSON, envelope or data (field errors)."),
            401: OpenApiResponse(description="Unknown key, or bad, missing or stale signature."),
            403: OpenApiResponse(
                description="Not a partner key, or a new request from a partner we retired."
            ),
            404: OpenApiResponse(description="No such request between us."),
            409: OpenApiResponse(description="Out of lifecycle, wrong side, or sequence used."),
            413: OpenApiResponse(description="Body over the limit (1 MB by default)."),
        },
        parameters=None,
    )
    def post(self, request):
        partner = partner_of(request)
        limit = settings.FEDERATION["MAX_BODY_BYTES"]
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge()
        raw = request._request.body
        if len(raw) > limit:
            raise PayloadTooLarge()
        headers = {
            name: request.headers.get(name, "")
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        try:
            signing.verify(
                secrets_=[partner.signing_secret, partner.signing_secret_previous],
                body=raw,
                headers=headers,
            )
        except signing.SignatureError as exc:
            raise exceptions.AuthenticationFailed(f"Signature refused: {exc}.") from exc
        try:
            payload = json_parse(raw)
        except ValueError as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        envelope = EnvelopeSerializer(data=payload)
        envelope.is_valid(raise_exception=True)
        values = envelope.validated_data
        if str(values["id"]) != headers["webhook-id"]:
            raise exceptions.ValidationError({"id": ["It must equal the webhook-id header."]})
        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key and idempotency_key != headers["webhook-id"]:
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["It must equal the webhook-id header."]}
            )
        # The checked values, typed ("5" is 5); data stays raw for the type's own serializer.
        envelope_values = {
            **payload,
            "id": str(values["id"]),
            "request_id": str(values["request_id"]),
            "sequence": values["sequence"],
        }
        receipt = self._receive(partner, envelope_values, race_retries=1)
        return Response(receipt.body, status=OUTCOME_STATUS[receipt.outcome])

    def _receive(self, partner, envelope_values: dict, *, race_retries: int):
        try:
            return inbox.message_receive(partner=partner, envelope=envelope_values)
        except inbox.MessageRefused as refused:
            raise MessageRefusedError(refused) from refused
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise exceptions.ValidationError({"data": detail}) from exc
        except IntegrityError:
            if not race_retries:
                raise
            # Two copies of one message (or two requests with one id) raced: the loser asks
            # again and gets the first answer, or the refusal that follows from it.
            return self._receive(partner, envelope_values, race_retries=race_retries - 1)
