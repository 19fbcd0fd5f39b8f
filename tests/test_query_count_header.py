"""The X-Query-Count header that benchmarks read through a real server: off unless asked for."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_no_query_count_header_by_default(client, coordinator):
    client.force_login(coordinator)

    response = client.get("/cases/")

    assert response.status_code == 200
    assert "X-Query-Count" not in response.headers


def test_header_counts_every_query_of_the_request(client, coordinator, settings):
    settings.QUERY_COUNT_HEADER = True
    client.force_login(coordinator)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/cases/")

    assert response.status_code == 200
    # The session and the user are read before the view runs: they count too.
    assert int(response.headers["X-Query-Count"]) == len(queries.captured_queries)
    assert len(queries.captured_queries) > 2


def test_header_counts_a_single_query(client, settings):
    settings.QUERY_COUNT_HEADER = True

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["X-Query-Count"] == "1"


def test_outsider_without_sign_in_sees_no_page_but_a_count(client, settings):
    settings.QUERY_COUNT_HEADER = True

    response = client.get("/cases/")

    assert response.status_code == 302
    assert response.headers["X-Query-Count"] == "0"
