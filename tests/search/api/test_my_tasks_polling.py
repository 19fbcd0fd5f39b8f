"""A field phone polls its unit's task list: 304 while nothing changed, without touching the
database; the full list, with a new ETag, after any change to the unit's tasks."""

import time
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Polygon
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from search.models import Task
from search.services import areas, field, lifecycle, offers
from search.services.task_versions import KEY
from search.services.timeline import Origin
from tests.factories import UserFactory
from tests.search.dispatch_world import LAST_SEEN, build_world, open_case

pytestmark = pytest.mark.django_db
URL = "/api/v1/my/tasks/"


@pytest.fixture
def world():
    cache.clear()
    return build_world()


@pytest.fixture
def member(world):
    user = UserFactory(organisation=world.city, roles=["field"])
    world.near.members.add(user)
    return user


@pytest.fixture
def phone(member):
    _, token = AuthToken.objects.create(user=member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.token = token
    return client


def poll(client, etag=None):
    headers = {"HTTP_IF_NONE_MATCH": etag} if etag else {}
    return client.get(URL, **headers)


def dispatched(world, commit):
    with commit(execute=True):
        case = open_case(world)
        areas.dispatch_case(case_id=case.pk)
    return case


def near_tasks(world):
    return Task.objects.filter(unit=world.near, status="offered").order_by("pk")


def test_an_unchanged_list_answers_304_without_a_single_query(
    world, phone, django_capture_on_commit_callbacks
):
    dispatched(world, django_capture_on_commit_callbacks)
    first = poll(phone)
    assert first.status_code == 200
    assert first.json()["count"] == 2
    etag = first["ETag"]
    assert etag.startswith('W/"')

    with CaptureQueriesContext(connection) as queries:
        again = poll(phone, etag)

    assert again.status_code == 304
    assert again["ETag"] == etag
    assert not again.content
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_a_new_offer_moves_the_version(world, phone, django_capture_on_commit_callbacks):
    empty = poll(phone)
    assert empty.json()["count"] == 0
    versions_before = cache.get(KEY.format(unit=world.near.pk))

    dispatched(world, django_capture_on_commit_callbacks)

    answer = poll(phone, empty["ETag"])
    assert answer.status_code == 200
    assert answer.json()["count"] == 2
    assert answer["ETag"] != empty["ETag"]
    assert cache.get(KEY.format(unit=world.near.pk)) != versions_before
    assert poll(phone, answer["ETag"]).status_code == 304


def test_an_acceptance_moves_the_version(world, member, phone, django_capture_on_commit_callbacks):
    dispatched(world, django_capture_on_commit_callbacks)
    before = poll(phone)
    task = near_tasks(world).first()

    with django_capture_on_commit_callbacks(execute=True):
        field.task_accept(origin=Origin(actor=member), task=task)

    answer = poll(phone, before["ETag"])
    assert answer.status_code == 200
    assert answer["ETag"] != before["ETag"]
    statuses = {row["id"]: row["status"] for row in answer.json()["results"]}
    assert statuses[task.pk] == "accepted"


def test_closing_the_case_cancels_and_empties_the_list(
    world, phone, coordinator_of, django_capture_on_commit_callbacks
):
    case = dispatched(world, django_capture_on_commit_callbacks)
    before = poll(phone)
    assert before.json()["count"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.case_close(
            origin=Origin(actor=coordinator_of(world)), case=case, outcome="found_well"
        )

    answer = poll(phone, before["ETag"])
    assert answer.status_code == 200
    assert answer.json()["count"] == 0
    assert answer["ETag"] != before["ETag"]


def test_a_new_area_that_leaves_the_sectors_out_cancels_them(
    world, phone, coordinator_of, django_capture_on_commit_callbacks
):
    case = dispatched(world, django_capture_on_commit_callbacks)
    before = poll(phone)
    lon, lat = LAST_SEEN
    elsewhere = Polygon.from_bbox((lon + 0.05, lat + 0.05, lon + 0.052, lat + 0.052))

    with django_capture_on_commit_callbacks(execute=True):
        areas.area_draw(origin=Origin(actor=coordinator_of(world)), case=case, polygon=elsewhere)

    answer = poll(phone, before["ETag"])
    assert answer.status_code == 200
    assert answer["ETag"] != before["ETag"]
    kept = {row["id"] for row in answer.json()["results"]}
    assert not kept & {row["id"] for row in before.json()["results"]}


def test_a_reassignment_moves_the_version(
    world, phone, coordinator_of, django_capture_on_commit_callbacks
):
    dispatched(world, django_capture_on_commit_callbacks)
    before = poll(phone)
    task = near_tasks(world).first()

    with django_capture_on_commit_callbacks(execute=True):
        offers.sector_reassign(
            origin=Origin(actor=coordinator_of(world)), sector=task.sector, unit=world.middle
        )

    answer = poll(phone, before["ETag"])
    assert answer.status_code == 200
    assert answer["ETag"] != before["ETag"]
    assert task.pk not in {row["id"] for row in answer.json()["results"]}


def test_a_revoked_token_is_refused_even_with_a_current_etag(world, phone):
    etag = poll(phone)["ETag"]
    assert poll(phone, etag).status_code == 304  # answered from the cache

    assert phone.post("/api/v1/auth/token/revoke/").status_code == 204

    assert poll(phone, etag).status_code == 401


def test_a_new_password_ends_the_cached_token_too(world, member, phone):
    etag = poll(phone)["ETag"]
    assert poll(phone, etag).status_code == 304

    member.set_password("a-new-and-long-password")
    member.save()

    assert poll(phone, etag).status_code == 401


def test_a_deactivated_user_is_refused_at_once(world, member, phone):
    etag = poll(phone)["ETag"]
    assert poll(phone, etag).status_code == 304

    member.is_active = False
    member.save(update_fields=["is_active"])

    assert poll(phone, etag).status_code == 401


def test_a_user_taken_off_the_unit_no_longer_gets_its_304(
    world, member, phone, django_capture_on_commit_callbacks
):
    dispatched(world, django_capture_on_commit_callbacks)
    etag = poll(phone)["ETag"]
    assert poll(phone, etag).status_code == 304

    world.near.members.remove(member)

    answer = poll(phone, etag)
    assert answer.status_code == 200
    assert answer.json()["count"] == 0


def test_a_user_who_loses_the_field_role_is_refused(world, member, phone):
    etag = poll(phone)["ETag"]
    assert poll(phone, etag).status_code == 304

    member.groups.clear()

    assert poll(phone, etag).status_code == 403


def test_an_expired_token_is_refused_though_its_entry_was_cached(world, member):
    instance, token = AuthToken.objects.create(user=member, expiry=timedelta(seconds=2))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    etag = poll(client)["ETag"]
    assert poll(client, etag).status_code == 304

    time.sleep(2.1)

    assert poll(client, etag).status_code == 401


def test_a_stale_version_key_expires_into_a_full_answer(world, phone, settings):
    etag = poll(phone)["ETag"]
    # What the version's TTL does after VERSION_TTL_SECONDS: the key is gone.
    cache.delete(KEY.format(unit=world.near.pk))

    answer = poll(phone, etag)
    assert answer.status_code == 200
    assert answer["ETag"] != etag


def test_another_page_has_its_own_etag(world, phone, django_capture_on_commit_callbacks):
    dispatched(world, django_capture_on_commit_callbacks)
    etag = poll(phone)["ETag"]

    assert phone.get(URL + "?page=1", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_a_session_poll_gets_304_too(world, member, client, django_capture_on_commit_callbacks):
    dispatched(world, django_capture_on_commit_callbacks)
    client.force_login(member)
    etag = client.get(URL)["ETag"]

    assert client.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304


CLOSED_PORT_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Nothing listens on port 1: every cache call fails at once.
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


def test_with_the_cache_down_polls_get_the_full_list(
    world, phone, django_capture_on_commit_callbacks
):
    dispatched(world, django_capture_on_commit_callbacks)
    etag = poll(phone)["ETag"]

    with override_settings(CACHES=CLOSED_PORT_CACHE):
        answer = poll(phone, etag)
        assert answer.status_code == 200
        assert answer.json()["count"] == 2
        assert "ETag" not in answer
        # A change made while the cache is down still commits.
        task = near_tasks(world).first()
        with django_capture_on_commit_callbacks(execute=True):
            offers.sector_reassign(
                origin=Origin(actor=coordinator_of_world(world)),
                sector=task.sector,
                unit=world.middle,
            )
        assert poll(phone, etag).json()["count"] == 1


def coordinator_of_world(world):
    # build_world's clerk is also a coordinator of the city.
    return world.clerk


@pytest.fixture
def coordinator_of():
    return coordinator_of_world
