"""Who may reach what: every route of the URL conf and every operation of the OpenAPI schema,
for every kind of caller, against one table.

A route or an API operation without a row in ACCESS fails the test, and so does any answer
that differs from its row: adding a page or an endpoint means deciding, here, who may use it.
Requests carry no useful body: what is checked is the door (login, 401, 403, 404), not the
action behind it; "ok" means the caller got past the door (an answer below 500 that is none of
the refusals, such as 200, a redirect back to the page, or a 400 for the missing input).
"""

import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from PIL import Image

from accounts.models import Organisation, Partner, PartnerAPIKey, Unit, User
from search.services import intake
from search.services.timeline import Origin
from tests.routes import all_routes, objects_behind_every_route
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db

ACTORS = [
    "anon",  # nobody signed in
    "clerk",
    "coord",
    "super",
    "couns",
    "field",  # a member of the unit holding the task
    "admin",  # the superuser of the demo, with no role
    "o.clerk",  # the same roles in the county next door
    "o.coord",
    "o.super",
    "o.couns",
    "f.other",  # a field member of another unit
    "partner",  # a partner city's API key
]

# One row per (route or schema path, method): the outcome for each actor, in ACTORS order.
# login = redirected to sign in; 401/403/404/405 = that status; ok = past the door.
ACCESS = """
# route                                                 method anon  clerk coord super couns field admin o.clk o.crd o.sup o.cns f.oth partn
healthz                                                 GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
healthz                                                 POST   405   405   405   405   405   405   405   405   405   405   405   405   405
# Staff (the superuser here) or the scraper's bearer token (tests/test_metrics.py): no one else.
metrics                                                 GET    401   403   403   403   403   403   ok    403   403   403   403   403   401
metrics                                                 POST   405   405   405   405   405   405   405   405   405   405   405   405   405
api/schema/                                             GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
api/schema/                                             POST   405   405   405   405   405   405   405   405   405   405   405   405   405
api/docs/                                               GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
api/docs/                                               POST   405   405   405   405   405   405   405   405   405   405   405   405   405
accounts/login/                                         GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
accounts/login/                                         POST   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
accounts/logout/                                        GET    405   405   405   405   405   405   405   405   405   405   405   405   405
accounts/logout/                                        POST   login login login login login login login login login login login login login
cases/                                                  GET    login ok    ok    ok    403   403   403   ok    ok    ok    403   403   login
cases/                                                  POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/new/                                              GET    login ok    ok    403   403   403   403   ok    ok    403   403   403   login
cases/new/                                              POST   login ok    ok    403   403   403   403   ok    ok    403   403   403   login
cases/<int:pk>/                                         GET    login ok    ok    ok    ok    404   404   404   404   404   404   404   login
cases/<int:pk>/                                         POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/edit/                                    GET    login ok    ok    403   403   404   404   404   404   404   404   404   login
cases/<int:pk>/edit/                                    POST   login ok    ok    403   403   404   404   404   404   404   404   404   login
cases/<int:pk>/reveal/                                  GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/reveal/                                  POST   login ok    ok    403   ok    404   404   404   404   404   404   404   login
cases/<int:pk>/priority/                                GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/priority/                                POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/withdraw/                                GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/withdraw/                                POST   login ok    ok    403   403   403   403   404   404   403   403   403   login
cases/<int:pk>/close/                                   GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/close/                                   POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/contact/                                 GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/contact/                                 POST   login 403   403   403   ok    403   403   403   403   403   404   403   login
cases/<int:pk>/photo/                                   GET    login ok    ok    ok    ok    404   404   404   404   404   404   404   login
cases/<int:pk>/photo/                                   POST   login 405   405   405   405   405   405   405   405   405   405   405   login
crisis/                                                 GET    login 403   403   403   ok    403   403   403   403   403   ok    403   login
crisis/                                                 POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/                                     GET    login ok    ok    ok    403   403   403   404   404   404   403   403   login
cases/<int:pk>/map/                                     POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/pause/                               GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/pause/                               POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/map/reassign/                            GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/reassign/                            POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/map/area/                                GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/area/                                POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/map/sightings/<int:sighting_id>/confirm/ GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/sightings/<int:sighting_id>/confirm/ POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
# What the map polls: the same door as the map (the tips' phones only for coordinators inside).
cases/<int:pk>/map/sightings/                           GET    login ok    ok    ok    403   403   403   404   404   404   403   403   login
cases/<int:pk>/map/sightings/                           POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/sightings/<int:sighting_id>/photo/   GET    login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/map/sightings/<int:sighting_id>/photo/   POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/alerts/<int:alert_id>/ack/           GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/map/alerts/<int:alert_id>/ack/           POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
# Publishing to the public is steering: coordinators of the case's tree only.
cases/<int:pk>/alert/                                   GET    login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/alert/                                   POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
cases/<int:pk>/alert/end/                               GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/alert/end/                               POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
field/                                                  GET    login 403   403   403   403   ok    403   403   403   403   403   ok    login
field/                                                  POST   login 405   405   405   405   405   405   405   405   405   405   405   login
field/sw.js                                             GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
field/sw.js                                             POST   405   405   405   405   405   405   405   405   405   405   405   405   405
field/actions/                                          GET    login 405   405   405   405   405   405   405   405   405   405   405   login
field/actions/                                          POST   login 403   403   403   403   ok    403   403   403   403   403   ok    login
field/tasks/<int:task_id>/                              GET    login 403   403   403   403   ok    403   403   403   403   403   404   login
field/tasks/<int:task_id>/                              POST   login 405   405   405   405   405   405   405   405   405   405   405   login
field/tasks/<int:task_id>/photo/                        GET    login 403   403   403   403   ok    403   403   403   403   403   404   login
field/tasks/<int:task_id>/photo/                        POST   login 405   405   405   405   405   405   405   405   405   405   405   login
aid/                                                    GET    login 403   ok    ok    403   403   403   403   ok    ok    403   403   login
aid/                                                    POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/aid/                                     GET    login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/aid/                                     POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
aid/<uuid:uid>/accept/                                  GET    login 405   405   405   405   405   405   405   405   405   405   405   login
aid/<uuid:uid>/accept/                                  POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
aid/<uuid:uid>/decline/                                 GET    login 405   405   405   405   405   405   405   405   405   405   405   login
aid/<uuid:uid>/decline/                                 POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
aid/<uuid:uid>/cancel/                                  GET    login 405   405   405   405   405   405   405   405   405   405   405   login
aid/<uuid:uid>/cancel/                                  POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
aid/<uuid:uid>/note/                                    GET    login 405   405   405   405   405   405   405   405   405   405   405   login
aid/<uuid:uid>/note/                                    POST   login 403   ok    403   403   403   403   403   404   403   403   403   login
orders/                                                 GET    login 403   ok    ok    403   403   403   403   ok    ok    403   403   login
orders/                                                 POST   login 405   405   405   405   405   405   405   405   405   405   405   login
cases/<int:pk>/orders/new/                              GET    login 403   ok    ok    403   403   403   403   404   404   403   403   login
cases/<int:pk>/orders/new/                              POST   login 403   ok    ok    403   403   403   403   404   404   403   403   login
orders/<int:order_id>/                                  GET    login 404   ok    ok    404   404   404   404   404   404   404   404   login
orders/<int:order_id>/                                  POST   login 405   405   405   405   405   405   405   405   405   405   405   login
orders/<int:order_id>/<slug:action>/                    GET    login 405   405   405   405   405   405   405   405   405   405   405   login
orders/<int:order_id>/<slug:action>/                    POST   login 404   ok    ok    404   404   404   404   404   404   404   404   login
supervision/                                            GET    login 403   ok    ok    403   403   403   403   ok    ok    403   403   login
supervision/                                            POST   login 405   405   405   405   405   405   405   405   405   405   405   login
supervision/figures.csv                                 GET    login 403   ok    ok    403   403   403   403   ok    ok    403   403   login
supervision/figures.csv                                 POST   login 405   405   405   405   405   405   405   405   405   405   405   login
pfif/import/                                            GET    login ok    ok    403   403   403   403   ok    ok    403   403   403   login
pfif/import/                                            POST   login ok    ok    403   403   403   403   ok    ok    403   403   403   login
drafts/                                                 GET    login ok    ok    403   403   403   403   ok    ok    403   403   403   login
drafts/                                                 POST   login 405   405   405   405   405   405   405   405   405   405   405   login
drafts/<int:draft_id>/                                  GET    login ok    ok    403   403   403   403   404   404   403   403   403   login
drafts/<int:draft_id>/                                  POST   login ok    ok    403   403   403   403   404   404   403   403   403   login
drafts/<int:draft_id>/discard/                          GET    login 405   405   405   405   405   405   405   405   405   405   405   login
drafts/<int:draft_id>/discard/                          POST   login ok    ok    403   403   403   403   404   404   403   403   403   login
/                                                       GET    login ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    login
/                                                       POST   login 405   405   405   405   405   405   405   405   405   405   405   login
admin/                                                  GET    login login login login login login ok    login login login login login login
admin/search/case/                                      GET    login login login login login login ok    login login login login login login
admin/search/case/<pk>/change/                          GET    login login login login login login ok    login login login login login login
admin/search/caseevent/                                 GET    login login login login login login ok    login login login login login login
admin/search/mutualaidrequest/                          GET    login login login login login login ok    login login login login login login
admin/search/outboxmessage/                             GET    login login login login login login ok    login login login login login login
admin/search/inboxmessage/                              GET    login login login login login login ok    login login login login login login
/api/v1/auth/token/                                     POST   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
# Revoking needs the token itself (a session is not enough): the sign-in tests cover it.
# The public side: everyone, signed in or not, the same.
alerts/                                                 GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
alerts/                                                 POST   405   405   405   405   405   405   405   405   405   405   405   405   405
alerts/feed.atom                                        GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
alerts/feed.atom                                        POST   405   405   405   405   405   405   405   405   405   405   405   405   405
alerts/<slug:identifier>.xml                            GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
alerts/<slug:identifier>.xml                            POST   405   405   405   405   405   405   405   405   405   405   405   405   405
alerts/<slug:identifier>/                               GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
alerts/<slug:identifier>/                               POST   405   405   405   405   405   405   405   405   405   405   405   405   405
alerts/<slug:identifier>/photo/                         GET    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
alerts/<slug:identifier>/photo/                         POST   405   405   405   405   405   405   405   405   405   405   405   405   405
alerts/<slug:identifier>/tip/                           GET    405   405   405   405   405   405   405   405   405   405   405   405   405
alerts/<slug:identifier>/tip/                           POST   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
/api/v1/auth/token/revoke/                              POST   401   401   401   401   401   401   401   401   401   401   401   401   401
/api/v1/auth/token/revoke-all/                          POST   401   401   401   401   401   401   401   401   401   401   401   401   401
/api/v1/cases/                                          GET    401   ok    ok    ok    403   403   403   ok    ok    ok    403   403   401
/api/v1/cases/                                          POST   401   ok    ok    403   403   403   403   ok    ok    403   403   403   401
/api/v1/cases/{id}/sightings/                           GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/cases/{id}/tasks/                               GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/cases/{id}/timeline/                            GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/cases/{id}/                                     GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/cases/{id}/                                     PATCH  401   ok    ok    403   403   403   403   404   404   403   403   403   401
/api/v1/cases/{id}/close/                               POST   401   403   ok    403   403   403   403   403   404   403   403   403   401
/api/v1/cases/{id}/pfif/                                GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/cases/{id}/search-areas/                        GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/cases/{id}/sectors/                             GET    401   ok    ok    ok    403   403   403   404   404   404   403   403   401
/api/v1/federation/messages/                            POST   401   401   401   401   401   401   401   401   401   401   401   401   401
/api/v1/mutual-aid/                                     GET    401   403   ok    ok    403   403   403   403   ok    ok    403   403   ok
/api/v1/mutual-aid/                                     POST   401   403   ok    403   403   403   403   403   ok    403   403   403   403
/api/v1/mutual-aid/{request_id}/                        GET    401   403   ok    ok    403   403   403   403   404   404   403   403   ok
/api/v1/mutual-aid/{request_id}/accept/                 POST   401   403   ok    403   403   403   403   403   404   403   403   403   403
/api/v1/mutual-aid/{request_id}/cancel/                 POST   401   403   ok    403   403   403   403   403   404   403   403   403   403
/api/v1/mutual-aid/{request_id}/decline/                POST   401   403   ok    403   403   403   403   403   404   403   403   403   403
/api/v1/mutual-aid/{request_id}/note/                   POST   401   403   ok    403   403   403   403   403   404   403   403   403   403
/api/v1/pfif/import/                                    POST   401   ok    ok    403   403   403   403   ok    ok    403   403   403   401
/api/v1/my/tasks/                                       GET    401   403   403   403   403   ok    403   403   403   403   403   ok    401
"""  # noqa: E501


def _table() -> dict[tuple[str, str], dict[str, str]]:
    rows = {}
    for line in ACCESS.strip().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        route, method, *outcomes = line.split()
        assert len(outcomes) == len(ACTORS), line
        rows[(route, method)] = dict(zip(ACTORS, outcomes, strict=True))
    return rows


def _outcome(response) -> str:
    status = response.status_code
    if status in (301, 302) and "/login/" in response.get("Location", ""):
        return "login"
    if status in (401, 403, 404, 405):
        return str(status)
    if status >= 500:
        return f"ERROR{status}"
    return "ok"


def _schema_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method.upper())
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _page_requests() -> list[tuple[str, str, str]]:
    """Return (row key, method, pattern) for every route that is not the API."""
    return [
        (route.pattern or "/", method, route.pattern)
        for route in all_routes()
        if not route.pattern.startswith("api/v1/")
        for method in ("GET", "POST")
    ]


ADMIN_PAGES = [
    "admin/",
    "admin/search/case/",
    "admin/search/case/<pk>/change/",
    # Read-only: what the services wrote, for an operator to see what is stuck.
    "admin/search/caseevent/",
    "admin/search/mutualaidrequest/",
    "admin/search/outboxmessage/",
    "admin/search/inboxmessage/",
]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, format="JPEG")
    return out.getvalue()


def _user(username, organisation, role):
    user = User.objects.create(username=username, organisation=organisation)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def world(demo_world, settings):
    # Every caller posts one tip: the table checks doors, not the tip rate limits.
    settings.PUBLIC_ALERT = {
        **settings.PUBLIC_ALERT,
        "TIP_RATE_PER_ADDRESS": "1000/m",
        "TIP_RATE_PER_ALERT": "1000/m",
    }
    dsx = Organisation.objects.get(code="DSX")
    xsx = Organisation.objects.get(code="XSX")
    coordinator = User.objects.get(username="coordinator")
    field_user = User.objects.get(username="field")
    unit = Unit.objects.filter(members=field_user).first()
    other_unit = Unit.objects.filter(organisation=dsx).exclude(pk=unit.pk).first()
    actors = {
        name: User.objects.get(username=username)
        for name, username in [
            ("clerk", "clerk"),
            ("coord", "coordinator"),
            ("super", "supervisor"),
            ("couns", "counsellor"),
            ("field", "field"),
            ("admin", "admin"),
        ]
    }
    for name, role in [
        ("o.clerk", "clerk"),
        ("o.coord", "coordinator"),
        ("o.super", "supervisor"),
        ("o.couns", "counsellor"),
    ]:
        actors[name] = _user(f"xsx-{role}", xsx, role)
    actors["f.other"] = _user("dsx-field-2", dsx, "field")
    other_unit.members.add(actors["f.other"])
    county_clerk = _user("dsx-clerk", dsx, "clerk")
    case = intake.case_open(
        origin=Origin(actor=county_clerk),
        data=intake.CaseInput(
            values=service_values(last_seen_point=unit.last_position, self_harm_risk=True),
            photo=SimpleUploadedFile("p.jpg", _jpeg()),
        ),
    )
    values = objects_behind_every_route(case, coordinator=coordinator, field_user=field_user)
    partner = Partner.objects.get(organisation__code="HS")
    _, key = PartnerAPIKey.objects.create_key(partner=partner, name="matrix")
    return actors, key, values


def _fill(pattern: str, values) -> str:
    path = re.sub(r"[<{](?:\w+:)?(\w+)[>}]", lambda m: str(values[m.group(1)]), pattern)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), path)
    return "/" + path.lstrip("/^").rstrip("$")


def _requests():
    pages = [(key, method) for key, method, _ in _page_requests()]
    admin = [(page, method) for page in ADMIN_PAGES for method in ("GET",)]
    api = _schema_operations()
    return pages + admin + api


def _call(client, actor, actors, key, method, path):
    """Send one bare request as this actor (signed in afresh: a sign-out route is walked too)."""
    client.logout()
    headers = {}
    if actor == "partner":
        headers["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    elif actor != "anon":
        client.force_login(actors[actor])
    return getattr(client, method.lower())(path, **headers)


def test_every_route_and_operation_has_a_row():
    rows = _table()
    missing = [f"{key} {method}" for key, method in _requests() if (key, method) not in rows]
    stale = [f"{key} {method}" for key, method in rows if (key, method) not in set(_requests())]
    assert missing == [], "routes without a row in ACCESS:\n" + "\n".join(missing)
    assert stale == [], "rows in ACCESS for routes that do not exist:\n" + "\n".join(stale)


@pytest.mark.parametrize("actor", ACTORS)
def test_each_caller_gets_exactly_what_the_table_says(client, world, actor):
    actors, key, values = world
    rows = _table()
    differences = []
    for row_key, method in _requests():
        got = _outcome(_call(client, actor, actors, key, method, _fill(row_key, values)))
        expected = rows.get((row_key, method), {}).get(actor)
        if got != expected:
            differences.append(f"{row_key:<45} {method:<6} expected {expected}, got {got}")
    assert differences == [], f"{actor}:\n" + "\n".join(differences)
