"""A unit shares its position: three queries, no timeline event, a track that is kept bounded."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import UnitPosition
from search.models import CaseEvent, FieldAction
from search.services import areas, field
from tests.factories import UnitFactory, UserFactory
from tests.search.dispatch_world import build_world, open_case

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}
# The session, the user with their roles, and the one statement that writes the position.
POSITION_QUERIES = 3


@pytest.fixture
def member(client):
    world = build_world()
    areas.dispatch_case(case_id=open_case(world).pk)  # a case with tasks out: nothing to tell it
    user = UserFactory(organisation=world.city, roles=["field"])
    world.near.members.add(user)
    client.force_login(user)
    return world, user


def share(client, client_id=None, **fields):
    data = {"kind": "position", "client_id": str(client_id or uuid.uuid4()), **fields}
    return client.post("/field/actions/", data, **JSON)


def test_a_position_report_costs_at_most_three_queries(client, member):
    world, _ = member
    share(client, unit=world.near.pk, lat="34.25", lon="117.3", accuracy="20")  # a warm session

    with CaptureQueriesContext(connection) as captured:
        response = share(client, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")

    assert response.status_code == 200 and response.json()["ok"], response.content
    assert len(captured) <= POSITION_QUERIES, [q["sql"][:120] for q in captured]
    world.near.refresh_from_db()
    assert world.near.last_position.coords == pytest.approx((117.31, 34.26))


def test_without_a_unit_named_the_first_unit_moves_in_as_many_queries(client, member):
    world, _ = member

    with CaptureQueriesContext(connection) as captured:
        response = share(client, lat="34.26", lon="117.31", accuracy="12")

    assert response.status_code == 200 and len(captured) <= POSITION_QUERIES
    world.near.refresh_from_db()
    assert world.near.last_position.coords == pytest.approx((117.31, 34.26))


def test_a_position_writes_the_track_and_no_case_event_or_field_action(client, member):
    world, user = member
    events, actions = CaseEvent.objects.count(), FieldAction.objects.count()
    before = timezone.now()

    share(client, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")
    share(client, unit=world.near.pk, lat="34.27", lon="117.32")

    assert (CaseEvent.objects.count(), FieldAction.objects.count()) == (events, actions)
    track = list(UnitPosition.objects.filter(unit=world.near).order_by("at"))
    assert [p.point.coords for p in track] == [
        pytest.approx((117.31, 34.26)),
        pytest.approx((117.32, 34.27)),
    ]
    assert [p.accuracy_m for p in track] == [12, None]
    assert {p.reported_by for p in track} == {user}
    world.near.refresh_from_db()
    assert world.near.last_position_at == track[-1].at and track[0].at >= before


def test_a_replayed_position_gets_the_same_answer_and_is_stored_once(client, member):
    world, _ = member
    action = uuid.uuid4()
    first = share(client, action, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")
    world.near.refresh_from_db()
    at = world.near.last_position_at

    again = share(client, action, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")

    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] and not first.json().get("replayed")
    assert UnitPosition.objects.filter(client_id=action).count() == 1
    world.near.refresh_from_db()
    assert world.near.last_position_at == at  # a replay moves nothing


def test_the_same_id_with_another_position_is_refused_and_moves_nothing(client, member):
    world, _ = member
    action = uuid.uuid4()
    share(client, action, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")

    other = share(client, action, unit=world.near.pk, lat="34.30", lon="117.40", accuracy="12")

    assert other.status_code == 409 and not other.json()["ok"]
    world.near.refresh_from_db()
    assert world.near.last_position.coords == pytest.approx((117.31, 34.26))


def test_the_same_id_from_someone_else_is_refused(client, member):
    world, _ = member
    action = uuid.uuid4()
    share(client, action, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")
    colleague = UserFactory(organisation=world.city, roles=["field"])
    world.near.members.add(colleague)
    client.force_login(colleague)

    again = share(client, action, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")

    assert again.status_code == 409
    assert UnitPosition.objects.filter(client_id=action).count() == 1


def test_an_outsider_cannot_move_another_teams_unit(client, member):
    world, _ = member
    before = world.far.last_position.coords

    response = share(client, unit=world.far.pk, lat="34.26", lon="117.31", accuracy="12")
    bad = share(client, unit=world.far.pk, lat="95", lon="117.31", accuracy="12")

    assert response.status_code == bad.status_code == 404
    world.far.refresh_from_db()
    assert world.far.last_position.coords == before
    assert not UnitPosition.objects.filter(unit=world.far).exists()


def test_a_user_who_is_no_field_member_is_refused(client, member):
    world, _ = member
    client.force_login(world.clerk)

    response = share(client, unit=world.near.pk, lat="34.26", lon="117.31", accuracy="12")

    assert response.status_code == 403 and not UnitPosition.objects.exists()


def test_a_member_without_units_gets_404(client, member):
    world, _ = member
    client.force_login(UserFactory(organisation=world.city, roles=["field"]))

    assert share(client, lat="34.26", lon="117.31", accuracy="12").status_code == 404
    assert not UnitPosition.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lat": "95", "lon": "117.3", "accuracy": "10"}, "latitude -90..90"),
        ({"lat": "nan", "lon": "117.3", "accuracy": "10"}, "latitude -90..90"),
        ({"lat": "34.25", "lon": "117.3", "accuracy": "inf"}, "not believable"),
        ({"lat": "34.25", "lon": "117.3", "accuracy": "0"}, "not believable"),
        ({"lat": "34.25", "lon": "117.3\x00"}, "Null characters"),
    ],
)
def test_a_bad_position_stores_no_track(client, member, fields, message):
    world, _ = member

    response = share(client, unit=world.near.pk, **fields)

    assert response.status_code == 400 and message in response.json()["error"]
    assert not UnitPosition.objects.exists()


def test_the_prune_deletes_old_track_rows_and_keeps_new_ones(settings, monkeypatch):
    settings.POSITION_TRACK_RETENTION_HOURS = 72
    monkeypatch.setattr(field, "POSITIONS_PRUNE_BATCH", 2)  # several batches, not one
    unit = UnitFactory()
    now = timezone.now()
    ages = [73, 80, 100, 200, 71, 1]

    for hours in ages:
        UnitPosition.objects.create(
            unit=unit,
            point=unit.last_position,
            at=now - timedelta(hours=hours),
            client_id=uuid.uuid4(),
        )

    from search.tasks import positions_prune

    assert positions_prune() == 4
    kept = sorted(round((now - p.at).total_seconds() / 3600) for p in UnitPosition.objects.all())
    assert kept == [1, 71]
    unit.refresh_from_db()
    assert unit.last_position is not None  # the last position is the unit's, never pruned


def test_the_prune_runs_on_the_beat():
    from django.conf import settings

    entries = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "search.tasks.positions_prune" in entries
