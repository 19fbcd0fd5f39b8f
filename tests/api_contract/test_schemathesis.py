"""Schemathesis against /api/schema/: generated requests find no 5xx and no answer that breaks
the schema. Runs in-process through the WSGI app, on the real test database."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Enough to reach every operation with valid and invalid data, and keep the suite short.
EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


@pytest.fixture(autouse=True)
def keep_test_connection():
    """As Django's test client does: the handler must not close the test's connection (and its
    open transaction) at the end of every request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def coordinator_token(coordinator):
    return AuthToken.objects.create(user=coordinator)[1]


# Loaded once at collection: building the schema reads no data.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_within_its_schema(case, demo_world, coordinator_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {coordinator_token}"},
        checks=CHECKS,
    )


@pytest.fixture
def real_objects(demo_world, coordinator):
    """A dispatched open case with a clue, a closed one with a find, and their tokens: so the
    answers checked against the schema are full ones, not only refusals."""
    from accounts.models import Unit, User
    from search.services import areas, field, intake, lifecycle
    from search.services.timeline import Origin
    from tests.search.intake_data import service_values

    clerk = User.objects.get(username="clerk")
    unit = Unit.objects.filter(organisation__code="DSX").first()
    open_case = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(values=service_values(last_seen_point=unit.last_position)),
    )
    areas.dispatch_case(case_id=open_case.pk)
    field.sighting_record(
        origin=Origin(actor=coordinator),
        case=open_case,
        kind="clue",
        point=unit.last_position,
        seen_at=open_case.last_seen_at,
    )
    closed = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(values=service_values(last_seen_point=unit.last_position)),
    )
    field.found_report(
        origin=Origin(actor=coordinator),
        case=closed,
        point=unit.last_position,
        seen_at=closed.last_seen_at,
        condition="well",
        with_whom="family",
    )
    lifecycle.case_close(
        origin=Origin(actor=coordinator), case=closed, outcome="found_well", note=""
    )
    tokens = {
        name: AuthToken.objects.create(user=User.objects.get(username=name))[1]
        for name in ("clerk", "coordinator", "supervisor")
    }
    return open_case, closed, tokens


FULL_ANSWERS = [
    ("/api/v1/cases/", {}, "supervisor"),
    ("/api/v1/cases/{id}/", {}, "supervisor"),
    ("/api/v1/cases/{id}/", {"include": "sensitive"}, "clerk"),
    ("/api/v1/cases/{id}/tasks/", {}, "coordinator"),
    ("/api/v1/cases/{id}/sightings/", {}, "coordinator"),
    ("/api/v1/cases/{id}/timeline/", {}, "coordinator"),
    ("/api/v1/cases/{id}/timeline/", {"include": "sensitive"}, "clerk"),
    ("/api/v1/cases/{id}/search-areas/", {}, "coordinator"),
    ("/api/v1/cases/{id}/sectors/", {}, "coordinator"),
    ("/api/v1/cases/{id}/pfif/", {}, "supervisor"),
    ("/api/v1/mutual-aid/", {}, "coordinator"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["open", "closed"])
@pytest.mark.parametrize(("path", "query", "who"), FULL_ANSWERS)
def test_full_answers_about_real_cases_match_the_schema(real_objects, which, path, query, who):
    open_case, closed, tokens = real_objects
    case_id = (open_case if which == "open" else closed).pk
    operation = schema[path]["GET"]
    params = {"id": case_id} if "{id}" in path else {}
    response = operation.Case(path_parameters=params, query=query).call_and_validate(
        headers={"Authorization": f"Token {tokens[who]}"}, checks=CHECKS
    )
    assert response.status_code == 200, response.text
