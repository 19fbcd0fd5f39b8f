"""The case list page: filters, search, pagination, newest critical first, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search.services import intake
from search.services.timeline import Origin
from search.views.cases import CASES_PER_PAGE
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db


def file(clerk, **values):
    return intake.case_open(
        origin=Origin(actor=clerk), data=intake.CaseInput(service_values(**values))
    )


def refs(response) -> list[str]:
    return [c.reference for c in response.context["page"]]


def test_newest_critical_first_then_newest_normal(client, clerk):
    old_normal, old_child = file(clerk), file(clerk, category="young_child", estimated_age=3)
    new_normal, new_child = file(clerk), file(clerk, category="young_child", estimated_age=5)
    client.force_login(clerk)

    response = client.get("/cases/")

    expected = [new_child, old_child, new_normal, old_normal]
    assert refs(response) == [c.reference for c in expected]


def test_filters_and_search(client, clerk):
    adult = file(clerk, subject_name="陈静")
    child = file(clerk, subject_name="刘洋", category="child", estimated_age=9)
    client.force_login(clerk)

    assert refs(client.get("/cases/?category=child")) == [child.reference]
    assert refs(client.get("/cases/?q=陈")) == [adult.reference]
    assert refs(client.get(f"/cases/?q={child.reference}")) == [child.reference]
    assert refs(client.get("/cases/?status=closed")) == []
    assert len(refs(client.get("/cases/?created_from=2000-01-01"))) == 2


def test_pagination_keeps_the_filter(client, clerk):
    for _ in range(CASES_PER_PAGE + 2):
        file(clerk)
    client.force_login(clerk)

    first = client.get("/cases/?category=adult")
    second = client.get("/cases/?category=adult&page=2")

    assert len(refs(first)) == CASES_PER_PAGE and len(refs(second)) == 2
    assert "category=adult&amp;page=2" in first.content.decode()


def test_list_queries_do_not_grow_with_cases(client, clerk):
    client.force_login(clerk)
    file(clerk)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            client.get("/cases/")
        return len(ctx)

    few = count()
    for _ in range(6):
        file(clerk)
    assert count() == few
