"""Filing a case costs a bounded number of queries, through the form and through the API."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search.models import Case, CaseEvent
from search.services import intake
from search.services.timeline import Origin, timeline_first_break
from tests.search.api.test_cases_api import minimal, token_client
from tests.search.intake_data import form_payload, service_values

pytestmark = pytest.mark.django_db
# Counted as a test sees them: inside the test's transaction each atomic block is a savepoint
# (SAVEPOINT and RELEASE, two statements); in production the outermost one is BEGIN/COMMIT.
# Before this bound: 28 (service), 43 (form), 31 (API).
SERVICE_QUERIES = 11
FORM_QUERIES = 17
API_QUERIES = 14


def test_the_intake_service_files_in_a_bounded_number_of_queries(clerk):
    with CaptureQueriesContext(connection) as captured:
        case = intake.case_open(
            origin=Origin(actor=clerk), data=intake.CaseInput(values=service_values())
        )

    assert len(captured) <= SERVICE_QUERIES, [q["sql"][:100] for q in captured]
    assert list(case.events.values_list("seq", "kind")) == [(1, "created")]
    assert timeline_first_break(case) is None


def test_the_form_files_in_a_bounded_number_of_queries(client, clerk):
    client.force_login(clerk)
    client.post("/cases/new/", form_payload(subject_name="Warm Up", category="adult"))

    with CaptureQueriesContext(connection) as captured:
        response = client.post("/cases/new/", form_payload())

    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(captured) <= FORM_QUERIES, [q["sql"][:100] for q in captured]
    case = Case.objects.get(subject_name="王小明")
    event = CaseEvent.objects.get(case=case)
    assert (event.seq, event.kind, event.actor, event.ip) == (1, "created", clerk, "127.0.0.1")


def test_the_api_files_in_a_bounded_number_of_queries(clerk):
    api = token_client("clerk", "beacon-clerk")
    api.post("/api/v1/cases/", minimal(subject_name="Warm Up", category="adult"), format="json")

    with CaptureQueriesContext(connection) as captured:
        response = api.post("/api/v1/cases/", minimal(), format="json")

    assert response.status_code == 201, response.content
    assert len(captured) <= API_QUERIES, [q["sql"][:100] for q in captured]
    case = Case.objects.get(pk=response.json()["id"])
    assert list(case.events.values_list("seq", "kind", "source")) == [(1, "created", "api")]


def test_each_broken_check_is_still_refused_by_name(clerk):
    # The check constraints are evaluated together in one query now: each still refuses alone.
    case = Case(
        **service_values(estimated_age=130),
        organisation=clerk.organisation,
        reference="X-1",
        status="closed",
    )

    with pytest.raises(ValidationError) as refused:
        case.validate_constraints()

    text = str(refused.value)
    assert "case_estimated_age_range" in text and "case_closed_has_outcome" in text
    assert "case_last_seen_after_1900" not in text
    case.estimated_age, case.status = 40, "open"
    case.validate_constraints()  # all hold: no error
