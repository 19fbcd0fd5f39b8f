"""Request guards that apply before any view runs."""

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _


class ApiBodyLimitMiddleware:
    """Refuse an API request whose body is larger than the server takes, as JSON 413.

    Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) answers with an HTML 400 page, which no API
    client can read; this answers first, by the declared length, for every /api/ path.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if length > limit:
                return JsonResponse(
                    {
                        "detail": _("The request body is larger than %(limit)s bytes.")
                        % {"limit": limit}
                    },
                    status=413,
                )
        return self.get_response(request)
