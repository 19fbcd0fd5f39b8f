"""The admin shows domain state but never changes it: the services do, with a timeline entry."""

import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Partner, Unit, User
from search.choices import AidMessageType, EventKind
from search.models import (
    CaseEvent,
    InboxMessage,
    MutualAidRequest,
    OutboxMessage,
    SearchArea,
    Sector,
    Task,
)
from search.services import intake
from search.services.timeline import Origin, event_record
from tests.factories import square
from tests.search.intake_data import service_values

pytestmark = pytest.mark.django_db

READ_ONLY_MODELS = ["outboxmessage", "inboxmessage", "mutualaidrequest", "caseevent"]


class _FormFields(HTMLParser):
    """Collect what a browser would submit from the page's change form."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select = None
        self._select_values: list[str] = []
        self._select_first = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self.data.setdefault(name, []).append(attrs.get("value", default))
        elif tag == "select" and name:
            self._select, self._select_values, self._select_first = name, [], None
            self._multiple = "multiple" in attrs
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self._select_values.append(value)
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            values = self._select_values
            if not values and not self._multiple and self._select_first is not None:
                values = [self._select_first]
            if values:
                self.data[self._select] = values
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def change_form_data(response) -> dict[str, list[str]]:
    """Return the change form's fields as the page filled them in."""
    parser = _FormFields()
    parser.feed(response.content.decode())
    # A textarea's first newline is not part of its value.
    return {
        name: [v[1:] if v.startswith("\n") else v for v in values]
        for name, values in parser.data.items()
    }


def _errors(response) -> str:
    """Return the form's errors, for a failed assertion to show."""
    form = response.context["adminform"].form if response.context else None
    return repr(form.errors) if form is not None else str(response.status_code)


@pytest.fixture
def world(demo_world):
    coordinator = User.objects.get(username="coordinator")
    unit = Unit.objects.filter(members__username="field").first()
    case = intake.case_open(
        origin=Origin(actor=coordinator),
        data=intake.CaseInput(values=service_values(last_seen_point=unit.last_position)),
    )
    now = timezone.now()
    point = unit.last_position
    area = SearchArea.objects.create(
        case=case,
        version=1,
        reason="manual",
        centre=point,
        centred_at=now,
        computed_at=now,
        radii_m=[200, 400, 600, 800],
        cap_m=800,
        resolution=9,
        boundary=square(point.x, point.y, 0.02),
    )
    sector = Sector.objects.create(
        case=case,
        area=area,
        h3_index="8940e1c1a2bffff",
        ring=1,
        weight=0.5,
        centroid=Point(point.x, point.y, srid=point.srid),
        boundary=square(point.x, point.y, 0.002),
    )
    task = Task.objects.create(
        case=case,
        sector=sector,
        unit=unit,
        distance_m=150.0,
        offered_at=now,
        expires_at=now + timedelta(minutes=3),
        last_activity_at=now,
    )
    partner = Partner.objects.get(organisation__code="HS")
    return case, task, partner


def _aid_rows(case, partner, n: int) -> None:
    """Add n requests, each with an outgoing and an incoming message and a timeline event."""
    now = timezone.now()
    for i in range(n):
        # One open outbound request per case and partner; the rest came from the partner.
        outbound = not MutualAidRequest.objects.filter(direction="outbound").exists()
        request = MutualAidRequest.objects.create(
            direction="outbound" if outbound else "inbound",
            partner=partner,
            case=case,
            reason="border",
            summary={"reference": case.reference, "medical_needs": "BODYNEEDLE7Q"},
            status_changed_at=now,
        )
        OutboxMessage.objects.create(
            request=request,
            seq=1,
            type=AidMessageType.REQUEST,
            body={"summary": {"medical_needs": "BODYNEEDLE7Q"}},
            attempts=i,
            next_attempt_at=now,
            last_error=f"HTTP 503: busy {i}" if i else "",
        )
        InboxMessage.objects.create(
            partner=partner,
            uid=uuid.uuid4(),
            request=request,
            seq=1,
            type=AidMessageType.ACCEPTED,
            body={"note": "BODYNEEDLE7Q"},
            outcome="applied",
            response_body={"note": "BODYNEEDLE7Q"},
        )
        event_record(
            origin=Origin.system(),
            case=case,
            kind=EventKind.AID,
            data={"changes": {"medical_needs": {"old": "BODYNEEDLE7Q", "new": "x"}}},
        )


def test_posting_a_new_status_to_the_case_admin_changes_only_the_editable_fields(
    admin_client, world
):
    case, _, _ = world
    page = f"/admin/search/case/{case.pk}/change/"
    data = change_form_data(admin_client.get(page))
    assert "subject_name" in data and "status" not in data
    before = (case.status, case.outcome, case.closed_at, case.priority, case.version)

    data.update(
        subject_name=["Renamed in the admin"],
        status=["closed"],
        outcome=["found_alive"],
        closed_at_0=["2026-01-01"],
        closed_at_1=["10:00:00"],
        priority=["1"],
        version=["99"],
    )
    response = admin_client.post(page, data)

    assert response.status_code == 302, _errors(response)
    case.refresh_from_db()
    assert case.subject_name == "Renamed in the admin"  # the form was taken...
    assert (case.status, case.outcome, case.closed_at, case.priority, case.version) == before


def test_posting_a_new_status_to_the_task_admin_changes_only_the_editable_fields(
    admin_client, world
):
    _, task, _ = world
    page = f"/admin/search/task/{task.pk}/change/"
    data = change_form_data(admin_client.get(page))
    assert "note" in data and "status" not in data
    before = Task.objects.filter(pk=task.pk).values().get()

    data.update(
        note=["changed in the admin"],
        status=["done"],
        coverage=["1"],
        **{
            f"{name}_{i}": [value]
            for name in (
                "offered_at",
                "expires_at",
                "answered_at",
                "started_at",
                "finished_at",
                "last_activity_at",
                "stale_flagged_at",
            )
            for i, value in enumerate(["2026-01-01", "10:00:00"])
        },
    )
    response = admin_client.post(page, data)

    assert response.status_code == 302, _errors(response)
    after = Task.objects.filter(pk=task.pk).values().get()
    assert after["note"] == "changed in the admin"  # the form was taken...
    assert {k: v for k, v in after.items() if k != "note"} == {
        k: v for k, v in before.items() if k != "note"
    }


def test_a_task_can_still_be_added_and_starts_as_an_offer(admin_client, world):
    _, task, _ = world
    page = "/admin/search/task/add/"
    data = change_form_data(admin_client.get(page))
    assert "status" not in data and "offered_at_0" in data
    now = timezone.localtime()
    other = Unit.objects.exclude(pk=task.unit_id).first()
    data.update(
        case=[str(task.case_id)],
        sector=[str(task.sector_id)],
        unit=[str(other.pk)],
        distance_m=["100"],
        status=["done"],
        **{
            f"{name}_{i}": [value]
            for name in ("offered_at", "expires_at", "last_activity_at")
            for i, value in enumerate([f"{now:%Y-%m-%d}", f"{now:%H:%M:%S}"])
        },
    )
    Task.objects.filter(pk=task.pk).update(status="declined")

    response = admin_client.post(page, data)

    assert response.status_code == 302, _errors(response)
    assert Task.objects.get(unit=other).status == "offered"


@pytest.mark.parametrize("model", READ_ONLY_MODELS)
def test_read_only_changelists_answer_and_offer_no_add_change_or_delete(admin_client, world, model):
    case, _, partner = world
    _aid_rows(case, partner, 2)
    row = {
        "outboxmessage": OutboxMessage,
        "inboxmessage": InboxMessage,
        "mutualaidrequest": MutualAidRequest,
        "caseevent": CaseEvent,
    }[model].objects.first()

    listing = admin_client.get(f"/admin/search/{model}/")
    detail = admin_client.get(f"/admin/search/{model}/{row.pk}/change/")

    assert listing.status_code == 200
    assert not listing.context["has_add_permission"]
    assert f"/admin/search/{model}/add/" not in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()
    assert detail.status_code == 200
    assert not detail.context["has_change_permission"]
    assert not detail.context["has_delete_permission"]
    assert admin_client.get(f"/admin/search/{model}/add/").status_code == 403
    assert admin_client.post(f"/admin/search/{model}/{row.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/search/{model}/{row.pk}/change/", {}).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", READ_ONLY_MODELS)
def test_read_only_pages_never_show_bodies_or_event_data(admin_client, world, model):
    case, _, partner = world
    _aid_rows(case, partner, 2)
    rows = {
        "outboxmessage": OutboxMessage,
        "inboxmessage": InboxMessage,
        "mutualaidrequest": MutualAidRequest,
        "caseevent": CaseEvent,
    }[model].objects.all()

    pages = [f"/admin/search/{model}/"] + [f"/admin/search/{model}/{r.pk}/change/" for r in rows]

    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert "BODYNEEDLE7Q" not in response.content.decode(), page


@pytest.mark.parametrize("model", READ_ONLY_MODELS)
def test_read_only_changelists_make_as_many_queries_for_many_rows_as_for_few(
    admin_client, world, model
):
    case, _, partner = world

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(f"/admin/search/{model}/").status_code == 200
        return len(captured)

    _aid_rows(case, partner, 1)
    few = queries()
    _aid_rows(case, partner, 4)

    assert queries() == few


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        ("", {"", "HTTP 503: busy 1", "HTTP 503: busy 2"}),
        ("delivery=undelivered", {"HTTP 503: busy 1"}),
        ("delivery=retrying", {"HTTP 503: busy 1"}),
        ("delivery=failed", {"HTTP 503: busy 2"}),
        ("delivery=delivered", {""}),
    ],
)
def test_the_outbox_filters_what_is_stuck(admin_client, world, query, listed):
    case, _, partner = world
    _aid_rows(case, partner, 3)
    OutboxMessage.objects.filter(attempts=0).update(delivered_at=timezone.now())
    OutboxMessage.objects.filter(attempts=2).update(failed_at=timezone.now())

    response = admin_client.get(f"/admin/search/outboxmessage/?{query}")

    assert response.status_code == 200
    assert {m.last_error for m in response.context["cl"].result_list} == listed
    for error in listed - {""}:
        assert error in response.content.decode()


def test_the_read_only_changelists_can_be_searched_by_case_reference(admin_client, world):
    case, _, partner = world
    _aid_rows(case, partner, 1)

    for model in READ_ONLY_MODELS:
        response = admin_client.get(f"/admin/search/{model}/?q={case.reference}")
        assert response.status_code == 200, model
        assert response.context["cl"].result_count >= 1, model
