"""Sensitive values planted in a case are looked for in every answer, for every role.

They may appear only in an answer that recorded a reveal on the case's timeline, and only for
the roles allowed to see them. Every GET route of the URL conf is walked (tests/routes.py), so
a new page or endpoint is searched without anyone remembering to add it here.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Organisation, Unit, User
from search import permissions
from search.choices import EventKind
from search.models import CaseEvent, MutualAidRequest, PublicAlert
from search.services import intake, public
from search.services.timeline import Origin
from tests.routes import all_routes, objects_behind_every_route
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db

# One planted value per sensitive field (and an old value that only the timeline holds).
PLANTED = {
    "reporter_name": "RPTNAME7Q",
    "reporter_relation": "RPTREL7Q",
    "reporter_phone": "+8613912345678",
    "medical_needs": "MEDNEEDS7Q",
    "medication": "MEDICATION7Q",
}
OLD_MEDICAL = "MEDOLD7Q"
NEEDLES = {
    "reporter": ["RPTNAME7Q", "RPTREL7Q", "13912345678", "RPTOLD7Q"],
    "medical": ["MEDNEEDS7Q", "MEDICATION7Q", OLD_MEDICAL],
}
ROLES = ["clerk", "coordinator", "supervisor", "counsellor", "field", "admin"]


def test_every_sensitive_field_is_planted():
    assert set(PLANTED) == permissions.ALL_SENSITIVE_FIELDS


@pytest.fixture
def world(demo_world):
    coordinator = User.objects.get(username="coordinator")
    field_user = User.objects.get(username="field")
    unit = Unit.objects.filter(members=field_user).first()
    base = unit.last_position
    case = intake.case_open(
        origin=Origin(actor=coordinator),
        data=intake.CaseInput(
            values=service_values(
                last_seen_point=base,
                self_harm_risk=True,
                **{**PLANTED, "medical_needs": OLD_MEDICAL, "reporter_name": "RPTOLD7Q"},
            )
        ),
    )
    case = intake.case_update(
        origin=Origin(actor=coordinator),
        case=case,
        data=intake.CaseInput(
            values={"medical_needs": PLANTED["medical_needs"], "reporter_name": "RPTNAME7Q"}
        ),
        expected_version=case.version,
    )
    values = objects_behind_every_route(case, coordinator=coordinator, field_user=field_user)
    # The admin's read-only pages: the edit's event holds the old and new sensitive values.
    edit = CaseEvent.objects.get(case=case, kind=EventKind.EDITED)
    aid = MutualAidRequest.objects.get(uid=values["uid"])
    values = {**values, "event": edit.pk, "aid": aid.pk, "outbox": aid.outbox_messages.first().pk}
    return case, values


def _leaks(body: str) -> dict[str, list[str]]:
    return {
        group: [n for n in needles if n in body]
        for group, needles in NEEDLES.items()
        if any(n in body for n in needles)
    }


def _text(response) -> str:
    # A photo is streamed: read it too, a value could hide in a file's metadata.
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", "replace")


def _reveals(case) -> int:
    return CaseEvent.objects.filter(case=case, kind=EventKind.SENSITIVE_VIEWED).count()


GET_ROUTES = [r for r in all_routes()]
ADMIN_PAGES = [
    "/admin/search/case/",
    "/admin/search/case/{pk}/change/",
    "/admin/search/caseevent/",
    "/admin/search/caseevent/{event}/change/",
    "/admin/search/mutualaidrequest/",
    "/admin/search/mutualaidrequest/{aid}/change/",
    "/admin/search/outboxmessage/",
    "/admin/search/outboxmessage/{outbox}/change/",
    "/admin/search/inboxmessage/",
]


@pytest.mark.parametrize("username", ROLES)
def test_no_answer_shows_a_sensitive_value_without_a_recorded_reveal(client, world, username):
    case, values = world
    client.force_login(User.objects.get(username=username))
    paths = [route.fill(values) for route in GET_ROUTES]
    paths += [page.format(**values) for page in ADMIN_PAGES]
    paths += [f"/cases/?q={case.subject_name}", "/api/v1/cases/?status=open"]
    seen = {}
    for path in paths:
        before = _reveals(case)
        response = client.get(path)
        body = _text(response)
        assert response.status_code < 500, (path, response.status_code)
        leaked = _leaks(body)
        if leaked:
            seen[path] = leaked
        assert _reveals(case) == before, f"GET {path} recorded a reveal"
    assert seen == {}, f"{username} saw sensitive values without a reveal: {seen}"


REVEALS = [
    ("post", "/cases/{pk}/reveal/", {}),
    ("post", "/cases/{pk}/edit/", {"reveal": "1"}),
    ("get", "/api/v1/cases/{pk}/?include=sensitive", None),
    ("get", "/api/v1/cases/{pk}/timeline/?include=sensitive", None),
]


@pytest.mark.parametrize("username", ROLES)
@pytest.mark.parametrize(("method", "path", "data"), REVEALS, ids=[r[1] for r in REVEALS])
def test_a_reveal_shows_only_the_allowed_parts_and_is_recorded(
    client, world, username, method, path, data
):
    case, values = world
    user = User.objects.get(username=username)
    client.force_login(user)
    allowed = permissions.sensitive_groups_for(user)
    before = _reveals(case)

    response = getattr(client, method)(path.format(**values), data or {})

    body = response.content.decode("utf-8", "replace")
    shown = set(_leaks(body))
    assert shown <= allowed, f"{username} saw {shown} through {path}"
    if shown:
        assert _reveals(case) == before + 1, f"{path} showed {shown} without recording it"
        event = CaseEvent.objects.filter(case=case, kind=EventKind.SENSITIVE_VIEWED).last()
        assert event.actor == user and set(event.data["parts"]) >= shown
    if response.status_code == 200 and allowed and username != "counsellor":
        # The roles that may see sensitive parts and may use this path do see them, in full.
        assert shown == allowed, (username, path, shown)


def test_the_county_next_door_sees_nothing_at_all(client, world):
    case, values = world
    other = User.objects.create(
        username="xsx-clerk", organisation=Organisation.objects.get(code="XSX")
    )
    from django.contrib.auth.models import Group

    other.groups.add(Group.objects.get_or_create(name="clerk")[0])
    client.force_login(other)
    for method, path, data in REVEALS:
        response = getattr(client, method)(path.format(**values), data or {})
        assert response.status_code == 404, path
        assert not _leaks(response.content.decode())
    assert _reveals(case) == 0


# A tipster's phone is a member of the public's: only the coordinators triaging the tips see it,
# on the map and in what the map polls; no other page, no export, no API answer.
TIP_PHONE = "+86 139 5555 0199"
TIP_NEEDLE = "5555 0199"


@pytest.mark.parametrize("username", ROLES)
def test_a_tipsters_phone_shows_only_to_coordinators_on_the_map(client, world, username):
    case, values = world
    alert = PublicAlert.objects.get(identifier=values["identifier"])  # tests/routes.py
    public.tip_record(
        alert=alert,
        tip=public.TipInput(
            seen_at=timezone.now() - timedelta(minutes=10),
            point=case.last_seen_point,
            description="seen by the north gate",
            phone=TIP_PHONE,
        ),
    )
    client.force_login(User.objects.get(username=username))
    paths = [route.fill(values) for route in GET_ROUTES]
    paths += [page.format(**values) for page in ADMIN_PAGES]
    paths += [f"/api/v1/cases/{case.pk}/sightings/", f"/api/v1/cases/{case.pk}/timeline/"]

    shown = set()
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        if TIP_NEEDLE in _text(response):
            shown.add(path)

    on_the_map = {f"/cases/{case.pk}/map/", f"/cases/{case.pk}/map/sightings/"}
    assert shown == (on_the_map if username == "coordinator" else set())
