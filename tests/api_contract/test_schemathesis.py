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
)

# Enough to reach every operation with valid and invalid data, and keep the suite short.
EXAMPLES_PER_OPERATION = 20


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
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
