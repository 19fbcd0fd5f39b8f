"""POST/GET /api/v1/cases/ with a token: the same service and rules as the form."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from search.models import Case, CaseEvent
from search.services import intake
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db


def token_client(username: str, password: str) -> APIClient:
    api = APIClient()
    response = api.post("/api/v1/auth/token/", {"username": username, "password": password})
    assert response.status_code == 200, response.content
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return api


@pytest.fixture
def clerk_api(clerk):
    return token_client("clerk", "beacon-clerk")


def minimal(**overrides) -> dict:
    body = {
        "subject_name": "Zhao Lei",
        "category": "dementia",
        "last_seen_at": (timezone.now() - timedelta(hours=5)).isoformat(),
        "last_seen_location": {"type": "Point", "coordinates": [117.45, 34.30]},
    }
    body.update(overrides)
    return body


def test_token_then_create_with_the_four_required_fields(clerk_api, clerk):
    response = clerk_api.post("/api/v1/cases/", minimal(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    case = Case.objects.get()
    assert body["id"] == case.pk and body["reference"] == case.reference
    assert body["last_seen_location"]["coordinates"] == pytest.approx([117.45, 34.30])
    assert case.location_source == "api" and case.created_by == clerk
    event = CaseEvent.objects.get()
    assert (event.kind, event.source) == ("created", "api")


def test_wrong_password_gets_no_token(demo_world):
    response = APIClient().post("/api/v1/auth/token/", {"username": "clerk", "password": "x"})

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject_name": ""}, "subject_name"),
        ({"category": "alien"}, "category"),
        ({"last_seen_at": "yesterday"}, "last_seen_at"),
        ({"last_seen_at": (timezone.now() + timedelta(days=2)).isoformat()}, "last_seen_at"),
        ({"last_seen_location": {"type": "Point", "coordinates": [200, 34]}}, "last_seen_location"),
        ({"last_seen_location": {"type": "Point", "coordinates": [117, 95]}}, "last_seen_location"),
        (
            {"last_seen_location": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}},
            "last_seen_location",
        ),
        ({"last_seen_location": "here"}, "last_seen_location"),
        (
            {"last_seen_location": {"type": "Point", "coordinates": [100.0, 30.0]}},
            "last_seen_location",
        ),
        ({"reporter_phone": "not a number"}, "reporter_phone"),
        ({"subject_name": "x" * 201}, "subject_name"),
        ({"date_of_birth": "2030-01-01"}, "last_seen_at"),
    ],
    ids=[
        "blank-name",
        "category",
        "bad-time",
        "future",
        "lon",
        "lat",
        "line",
        "not-geojson",
        "outside",
        "phone",
        "overlong",
        "before-birth",
    ],
)
def test_bad_input_gets_400_naming_the_field_and_writes_nothing(clerk_api, body, field):
    response = clerk_api.post("/api/v1/cases/", minimal(**body), format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert Case.objects.count() == 0 and CaseEvent.objects.count() == 0


def test_missing_fields_are_each_named(clerk_api):
    response = clerk_api.post("/api/v1/cases/", {}, format="json")

    assert response.status_code == 400
    assert {"subject_name", "category", "last_seen_at", "last_seen_location"} <= set(
        response.json()
    )


def test_outside_every_jurisdiction_is_allowed_when_confirmed(clerk_api):
    body = minimal(
        last_seen_location={"type": "Point", "coordinates": [100.0, 30.0]},
        confirm_outside_jurisdiction=True,
    )

    assert clerk_api.post("/api/v1/cases/", body, format="json").status_code == 201


def test_errors_speak_the_callers_language(clerk_api):
    response = clerk_api.post(
        "/api/v1/cases/",
        minimal(reporter_phone="abc"),
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert "不是电话号码" in response.json()["reporter_phone"][0]


def test_list_and_detail_follow_the_same_access_rules(clerk_api, clerk):
    case = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(service_values(medical_needs="heart condition")),
    )
    outsider = UserFactory(roles=["clerk"])
    outsider_api = APIClient()
    outsider_api.force_authenticate(outsider)
    field_api = APIClient()
    field_api.force_authenticate(UserFactory(organisation=clerk.organisation, roles=["field"]))

    listed = clerk_api.get("/api/v1/cases/").json()
    detail = clerk_api.get(f"/api/v1/cases/{case.pk}/").json()

    assert [c["reference"] for c in listed["results"]] == [case.reference]
    assert "medical_needs" not in detail and "reporter_phone" not in detail
    assert outsider_api.get(f"/api/v1/cases/{case.pk}/").status_code == 404
    assert outsider_api.get("/api/v1/cases/").json()["results"] == []
    assert field_api.get("/api/v1/cases/").status_code == 403
    assert field_api.post("/api/v1/cases/", minimal(), format="json").status_code == 403
    assert APIClient().get("/api/v1/cases/").status_code == 401


def test_sensitive_fields_on_request_are_recorded(clerk_api, clerk):
    case = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(service_values(medical_needs="heart condition")),
    )

    detail = clerk_api.get(f"/api/v1/cases/{case.pk}/?include=sensitive").json()

    assert detail["medical_needs"] == "heart condition"
    assert case.events.filter(kind="sensitive_viewed", source="api").count() == 1


def test_supervisor_asking_for_sensitive_fields_gets_none(clerk):
    case = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(service_values(medical_needs="heart condition")),
    )
    api = token_client("supervisor", "beacon-supervisor")

    detail = api.get(f"/api/v1/cases/{case.pk}/?include=sensitive").json()

    assert "medical_needs" not in detail
    assert not case.events.filter(kind="sensitive_viewed").exists()


def test_list_filters_paginates_and_puts_newest_critical_first(clerk_api, clerk):
    normal = intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(service_values()))
    child = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(service_values(category="young_child", estimated_age=4)),
    )

    everything = clerk_api.get("/api/v1/cases/").json()
    normals = clerk_api.get("/api/v1/cases/?priority=3").json()
    by_ref = clerk_api.get(f"/api/v1/cases/?q={normal.reference}").json()

    assert [c["id"] for c in everything["results"]] == [child.pk, normal.pk]
    assert [c["id"] for c in normals["results"]] == [normal.pk]
    assert [c["id"] for c in by_ref["results"]] == [normal.pk]
    assert {"count", "next", "previous"} <= set(everything)


def test_list_query_count_does_not_grow_with_cases(clerk_api, clerk):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert clerk_api.get("/api/v1/cases/").status_code == 200
        return len(ctx)

    intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(service_values()))
    few = count_queries()
    for _ in range(5):
        intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(service_values()))

    assert count_queries() == few
