"""Request guards that apply before any view runs."""

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
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
            limit = settings.API_BODY_LIMITS.get(request.path, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            if length > limit:
                return JsonResponse(
                    {
                        "detail": _("The request body is larger than %(limit)s bytes.")
                        % {"limit": limit}
                    },
                    status=413,
                )
        return self.get_response(request)


class QueryCountHeaderMiddleware:
    """Say in an `X-Query-Count` header how many SQL statements the request ran.

    For benchmarks through a real server (bench/scale.py), where DEBUG is off and Django keeps
    no query log. Off unless BEACON_QUERY_COUNT_HEADER is on: the count is not for the public.
    Placed first, so the session, the user and every other middleware's queries are counted.
    """

    def __init__(self, get_response):
        if not settings.QUERY_COUNT_HEADER:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        count = 0

        def counter(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Query-Count"] = str(count)
        return response
