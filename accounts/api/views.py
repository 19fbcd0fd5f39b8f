"""API sign-in: a token per device that expires after a shift, and its revocation."""

from axes.exceptions import AxesBackendPermissionDenied
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.models import AuthToken
from knox.views import LogoutAllView, LogoutView
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.lockout import lockout_message
from search.api.throttling import AddressRateThrottle


class LockedOut(exceptions.APIException):
    status_code = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)
    default_code = "locked_out"


class Credentials(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


TokenAnswer = inline_serializer(
    "TokenAnswer",
    {"token": serializers.CharField(), "expiry": serializers.DateTimeField(allow_null=True)},
)


class TokenView(APIView):
    """Exchange a username and password for a token (`Authorization: Token <token>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AddressRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=Credentials,
        responses={
            200: TokenAnswer,
            400: OpenApiResponse(description="Wrong or missing username or password."),
            429: OpenApiResponse(description="Too many failures: locked out for a while."),
        },
    )
    def post(self, request):
        form = Credentials(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            # The Django request, so that django-axes counts failures and locks out.
            user = authenticate(request._request, **form.validated_data)
        except AxesBackendPermissionDenied:
            user = None
        if getattr(request._request, "axes_locked_out", False):
            raise LockedOut(lockout_message())
        if user is None or not user.is_active:
            raise exceptions.ValidationError(
                {"non_field_errors": [_("Unable to sign in with the username and password given.")]}
            )
        instance, token = AuthToken.objects.create(user=user)
        return Response({"token": token, "expiry": instance.expiry}, status=status.HTTP_200_OK)


@extend_schema(request=None, responses={204: None})
class TokenRevokeView(LogoutView):
    """Revoke the token this request carries."""


@extend_schema(request=None, responses={204: None})
class TokenRevokeAllView(LogoutAllView):
    """Revoke every token of the signed-in user (all their devices)."""
