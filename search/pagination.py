"""Page sizes a caller may ask for, and a paginator that stops counting where a page needs it.

Shared by the case list page and the API (search/api/pagination.py).
"""

from django.core.exceptions import ValidationError
from django.core.paginator import PageNotAnInteger, Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

PAGE_SIZE_MAX = 200
# How far past the first row of the asked-for page the list counts. Counting a city's 100,000
# cases for page numbers took about 370 ms; nobody reads 1,000 rows past where they are.
COUNT_LIMIT = 1000
# PostgreSQL's LIMIT is a bigint: a page number beyond this counts everything (then 404s).
_LIMIT_MAX = 2**62


def page_size_from(raw: str | None, *, default: int) -> int:
    """Return the page size asked for (`default` when none), or raise ValidationError."""
    if raw is None or raw == "":
        return default
    message = _("Give a whole number from 1 to %(max)d.") % {"max": PAGE_SIZE_MAX}
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError({"page_size": message}, code="invalid")
    size = int(raw)
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise ValidationError({"page_size": message}, code="range")
    return size


class BoundedCountPaginator(Paginator):
    """A Paginator whose count reads at most COUNT_LIMIT rows past the start of the page asked
    for (a LIMITed subquery). `capped` says the count stopped there: the list has more rows
    than `count - 1`, and the page after the asked-for one exists."""

    count_limit = COUNT_LIMIT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reach = self.count_limit
        self.capped = False

    def validate_number(self, number):
        # The count depends on the page asked for, so learn it before the count is read.
        if "count" not in self.__dict__:
            try:
                wanted = int(number)
            except (TypeError, ValueError):
                raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
            if wanted > 1:
                self._reach = min(_LIMIT_MAX, (wanted - 1) * self.per_page + self.count_limit)
        return super().validate_number(number)

    @cached_property
    def count(self) -> int:
        if not hasattr(self.object_list, "query"):
            return super().count
        rows = self.object_list.order_by()[: self._reach + 1].count()
        self.capped = rows > self._reach
        return rows

    @property
    def counted(self) -> int:
        """Return the number of rows counted: the exact count, or the limit when capped."""
        count = self.count  # sets `capped`
        return self._reach if self.capped else count
