"""Pagination of every API list: `?page=` and a bounded `?page_size=`."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, pagination
from rest_framework.response import Response

from search.pagination import COUNT_LIMIT, PAGE_SIZE_MAX, BoundedCountPaginator, page_size_from


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers, with `?page_size=` from 1 to PAGE_SIZE_MAX; any other value is a
    400 naming the bounds (not a silent fallback: a client asking for 500 must know it did not
    get them)."""

    page_size_query_param = "page_size"
    max_page_size = PAGE_SIZE_MAX
    page_size_query_description = f"Rows per page, 1 to {PAGE_SIZE_MAX}; another value is a 400."

    def get_page_size(self, request):
        try:
            return page_size_from(
                request.query_params.get(self.page_size_query_param), default=self.page_size
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX}
        return parameters


class CasePagination(PageNumberPagination):
    """The case list's `count` stops at COUNT_LIMIT rows past the page's first row: null when
    there are more (follow `next`), so a city's history is not counted on every page."""

    django_paginator_class = BoundedCountPaginator
    # "last" would be the last counted page, not the last page.
    last_page_strings = ()

    def get_paginated_response(self, data):
        paginator = self.page.paginator
        return Response(
            {
                "count": None if paginator.capped else paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": f"Matching cases, or null when more than {COUNT_LIMIT} rows follow "
            "the first row of this page (the count stops there; follow `next`).",
        }
        return answer
