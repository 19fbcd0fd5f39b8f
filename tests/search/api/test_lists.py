"""Lists: ?page_size= bounds, the case list's bounded count, the name search through its index,
and the quick row serialisation answering exactly what DRF's generic one did."""

import json
import random

import pytest
from django.contrib.gis.geos import Point
from rest_framework import serializers
from rest_framework.test import APIClient, APIRequestFactory

from search import permissions
from search.api.serializers import CaseSerializer, PointField, TaskSerializer
from search.models import Case, Task
from search.pagination import BoundedCountPaginator
from search.services import areas, intake
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db


def file(clerk, **values):
    return intake.case_open(
        origin=Origin(actor=clerk), data=intake.CaseInput(service_values(**values))
    )


@pytest.fixture
def api(coordinator):
    client = APIClient()
    client.force_authenticate(coordinator)
    return client


@pytest.mark.parametrize("size", ["0", "-1", "abc", "2.5", "201", "１０"])
@pytest.mark.parametrize("path", ["/api/v1/cases/", "/api/v1/mutual-aid/", "/api/v1/my/tasks/"])
def test_page_size_out_of_bounds_is_a_400_naming_the_bounds(api, coordinator, path, size):
    client = api
    if "my/tasks" in path:
        client = APIClient()
        client.force_authenticate(
            UserFactory(organisation=coordinator.organisation, roles=["field"])
        )
    answer = client.get(path, {"page_size": size})
    assert answer.status_code == 400
    assert answer.json() == {"page_size": ["Give a whole number from 1 to 200."]}


def test_page_size_up_to_200_is_honoured(api, clerk):
    for _ in range(3):
        file(clerk)
    assert len(api.get("/api/v1/cases/", {"page_size": "200"}).json()["results"]) == 3
    two = api.get("/api/v1/cases/", {"page_size": "2"}).json()
    assert len(two["results"]) == 2 and "page_size=2" in two["next"]
    assert len(api.get("/api/v1/cases/").json()["results"]) == 3  # default 25


def test_child_list_takes_page_size(api, clerk):
    case = file(clerk)
    assert api.get(f"/api/v1/cases/{case.pk}/timeline/", {"page_size": 1}).json()["count"] >= 1
    assert api.get(f"/api/v1/cases/{case.pk}/timeline/", {"page_size": 201}).status_code == 400


def test_case_count_stops_at_the_limit_and_next_still_leads_on(api, clerk, monkeypatch):
    monkeypatch.setattr(BoundedCountPaginator, "count_limit", 3)
    for _ in range(5):
        file(clerk)
    first = api.get("/api/v1/cases/", {"page_size": 2}).json()
    assert first["count"] is None and len(first["results"]) == 2
    # Page 2 counts 3 rows past its first: 2 + 3 = 5 known rows, so its count is exact.
    second = api.get(first["next"]).json()
    assert second["count"] == 5
    third = api.get(second["next"]).json()
    assert len(third["results"]) == 1 and third["next"] is None
    refs = {c["reference"] for page in (first, second, third) for c in page["results"]}
    assert len(refs) == 5


def test_case_count_is_exact_under_the_limit(api, clerk):
    for _ in range(2):
        file(clerk)
    assert api.get("/api/v1/cases/").json()["count"] == 2


def test_case_page_says_more_than_when_capped(client, clerk, monkeypatch):
    monkeypatch.setattr(BoundedCountPaginator, "count_limit", 3)
    for _ in range(5):
        file(clerk)
    client.force_login(clerk)
    page = client.get("/cases/?page_size=2")
    text = page.content.decode()
    assert (
        "More than 3 cases" in text and "page=2" in text and " of " not in text.split("pager")[-1]
    )
    assert len(page.context["page"]) == 2
    assert len(client.get("/cases/?page_size=2&page=3").context["page"]) == 1


@pytest.mark.parametrize("size", ["0", "-3", "x", "201"])
def test_case_page_refuses_a_bad_page_size(client, clerk, size):
    file(clerk)
    client.force_login(clerk)
    page = client.get(f"/cases/?page_size={size}")
    assert page.status_code == 400
    assert "Give a whole number from 1 to 200." in page.content.decode()
    assert len(page.context["page"]) == 1


def test_case_page_takes_page_size_up_to_200(client, clerk):
    for _ in range(3):
        file(clerk)
    client.force_login(clerk)
    assert len(client.get("/cases/?page_size=200").context["page"]) == 3
    assert len(client.get("/cases/?page_size=1").context["page"]) == 1


def test_search_finds_by_any_part_of_the_name_and_by_reference(api, clerk):
    zhang = file(clerk, subject_name="张伟明")
    anna = file(clerk, subject_name="Anna Smith")
    file(clerk, subject_name="王秀英")

    def found(q):
        return {c["reference"] for c in api.get("/api/v1/cases/", {"q": q}).json()["results"]}

    assert found("张伟") == found("伟明") == found("伟") == found("张伟明") == {zhang.reference}
    assert found("nna s") == found("ANNA") == {anna.reference}
    assert found(zhang.reference.lower()) == {zhang.reference}
    assert found("伟王") == set() and found("%") == set() and found("_") == set()


def generic(serializer, instance):
    """Return what DRF's own ModelSerializer walk answers, masked as before."""
    data = serializers.ModelSerializer.to_representation(serializer, instance)
    return {k: v for k, v in data.items() if k not in serializer.hidden_names()}


def test_case_rows_are_what_the_generic_serializer_answered(clerk, coordinator):
    file(clerk, category="young_child", estimated_age=4, medical_needs="asthma")
    file(clerk, last_seen_point=Point(117.123456789012, 34.1, srid=4326))
    request = APIRequestFactory().get("/api/v1/cases/")
    request.user = coordinator
    cases = list(Case.objects.select_related("organisation"))
    for groups in (set(), permissions.sensitive_groups_for(clerk)):
        quick = CaseSerializer(
            cases, many=True, context={"request": request, "sensitive_groups": groups}
        )
        rows = json.loads(json.dumps(quick.data))
        one = CaseSerializer(context={"request": request, "sensitive_groups": groups})
        assert rows == [json.loads(json.dumps(generic(one, c))) for c in cases]
        assert rows[0]["priority_reasons"]


def test_task_rows_are_what_the_generic_serializer_answered(clerk):
    case = file(clerk)
    areas.dispatch_case(case_id=case.pk)
    tasks = list(Task.objects.filter(case=case).select_related("sector", "unit"))
    assert tasks
    quick = json.loads(json.dumps(TaskSerializer(tasks, many=True).data))
    assert quick == [json.loads(json.dumps(generic(TaskSerializer(), t))) for t in tasks]


def test_quick_points_are_what_ogr_answers():
    field, rng = PointField(), random.Random(5)
    for n in range(20000):
        x, y = rng.uniform(-180, 180), rng.uniform(-90, 90)
        if n % 2:
            x, y = round(x, rng.randint(0, 12)), round(y, rng.randint(0, 12))
        if n % 7 == 0:
            x = rng.choice([0.0, -0.0, 1e-7, 180.0, -90.0, 17.463487392999994])
        point = Point(x, y, srid=4326)
        assert json.dumps(field.to_representation(point)) == json.dumps(json.loads(point.json)), (
            x,
            y,
        )
