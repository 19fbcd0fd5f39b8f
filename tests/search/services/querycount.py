"""Counting queries: background work must cost the same for one case as for fifty."""

from collections.abc import Callable

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import OrganisationFactory, UnitFactory


def queries(run: Callable[[], object]) -> int:
    """Return how many queries `run` makes."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured.captured_queries)


def same_cost(make: Callable[[int], Callable[[], object]], *, sizes=(1, 50)) -> list[int]:
    """Return the query counts of `make(n)()` for each n; `make` builds n cases' worth of work."""
    return [queries(make(n)) for n in sizes]


def city():
    """A fresh city with one unit at the factories' centre."""
    organisation = OrganisationFactory()
    return organisation, UnitFactory(organisation=organisation)
