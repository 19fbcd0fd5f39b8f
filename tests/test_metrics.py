"""GET /metrics: who may read it, and that what it says is what happened."""

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from celery import shared_task
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Partner
from search.choices import AidMessageType, CaseStatus, OrderStatus, Priority
from search.models import OutboxMessage, SupervisionOrder
from tests.conftest import _test_database_url
from tests.factories import (
    AidRequestFactory,
    CaseFactory,
    OrganisationFactory,
    SearchAreaFactory,
    SectorFactory,
    TaskFactory,
    UserFactory,
)

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrape-token-for-tests-0123456789"
# Generous: the worker and gunicorn share two cores with the rest of the suite.
DEADLINE_SECONDS = 120


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def samples_of(text: str) -> dict[tuple[str, frozenset], float]:
    """Return {(sample name, labels): value} of a Prometheus text answer."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    return samples_of(response.content.decode())


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- Who may read it ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_scrapers_token_opens_the_metrics_as_prometheus_text(client, token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    names = {name for name, _ in samples_of(response.content.decode())}
    assert {
        "beacon_cases_open",
        "beacon_offers_waiting",
        "beacon_outbox_backlog",
        "beacon_outbox_oldest_age_seconds",
        "beacon_supervision_orders_overdue",
    } <= names


@pytest.mark.django_db
def test_a_staff_user_signed_in_may_read_the_metrics_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/metrics")

    assert response.status_code == 200
    assert b"beacon_cases_open" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN[:-1]}x",  # one character off
        f"Bearer {TOKEN}{TOKEN}",
        "Bearer ",
        f"Token {TOKEN}",  # the API's scheme is not the scraper's
    ],
)
def test_a_wrong_token_is_refused_with_no_metric_text(client, token, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code in (401, 403)
    assert b"beacon_" not in response.content


@pytest.mark.django_db
def test_a_wrong_token_is_refused_even_beside_a_staff_session(client, token):
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token-at-all-000000")

    assert response.status_code == 403
    assert b"beacon_" not in response.content


@pytest.mark.django_db
def test_no_token_configured_opens_nothing_to_a_bearer(client, settings):
    settings.METRICS_TOKEN = ""

    for authorization in ("Bearer ", "Bearer x", f"Bearer {TOKEN}"):
        response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)
        assert response.status_code == 403
        assert b"beacon_" not in response.content


@pytest.mark.django_db
def test_anonymous_is_asked_for_credentials_and_sees_no_metric_text(client, token):
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"beacon_" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("roles", [["coordinator"], ["supervisor"], []])
def test_a_signed_in_user_who_is_not_staff_is_refused(client, token, roles):
    client.force_login(UserFactory(roles=roles))

    response = client.get("/metrics")

    assert response.status_code == 403
    assert b"beacon_" not in response.content


@pytest.mark.django_db
def test_metrics_are_read_only(client, token):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


def test_a_short_token_stops_start_up_without_echoing_it():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "METRICS_TOKEN": "guessable-secret",
    }

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "METRICS_TOKEN" in result.stderr
    assert "guessable-secret" not in result.stderr


# --- HTTP requests --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_request_moves_its_counter_and_its_latency(client, token):
    user = UserFactory(roles=["clerk"])
    before = scrape(client)

    client.force_login(user)
    assert client.get("/cases/").status_code == 200
    client.logout()
    after = scrape(client)

    labels = {"view": "case_list", "method": "GET", "status": "200"}
    assert value(after, "beacon_http_requests_total", **labels) == (
        value(before, "beacon_http_requests_total", **labels) + 1
    )
    assert value(after, "beacon_http_request_duration_seconds_count", **labels) == (
        value(before, "beacon_http_request_duration_seconds_count", **labels) + 1
    )
    assert value(after, "beacon_http_request_duration_seconds_sum", **labels) > value(
        before, "beacon_http_request_duration_seconds_sum", **labels
    )


@pytest.mark.django_db
def test_requests_are_labelled_by_route_name_never_by_their_path(client, token):
    clerk = UserFactory(roles=["clerk"])
    cases = CaseFactory.create_batch(2, organisation=clerk.organisation)
    client.force_login(clerk)
    for case in cases:
        assert client.get(f"/cases/{case.pk}/").status_code == 200
    assert client.get("/no-such-page/987654321/").status_code == 404
    assert client.generic("BREW", "/cases/").status_code == 405
    client.logout()

    samples = scrape(client)

    assert value(
        samples, "beacon_http_requests_total", view="case_detail", method="GET", status="200"
    ) >= len(cases)
    assert (
        value(samples, "beacon_http_requests_total", view="unmatched", method="GET", status="404")
        >= 1
    )
    assert (
        value(samples, "beacon_http_requests_total", view="case_list", method="other", status="405")
        >= 1
    )
    views = {dict(labels)["view"] for name, labels in samples if name.startswith("beacon_http")}
    assert not [view for view in views if "/" in view or view in {"BREW", "987654321"}]
    methods = {dict(labels)["method"] for name, labels in samples if name.startswith("beacon_http")}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert "987654321" not in text and "no-such-page" not in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_counts_from_every_gunicorn_worker_are_added_up(tmp_path):
    """Two gunicorn workers: one held by a request still arriving, the other answers the rest;
    every scrape, whichever worker answers it, counts them all."""
    # settings_test keeps a directory of this name (a test run's own) rather than making one.
    metrics_dir = tmp_path / "beacon-test-metrics-gunicorn"
    metrics_dir.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_TOKEN": TOKEN,
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert web.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        # A sync worker reads one request at a time: this unfinished one holds whichever worker
        # took it, so the other answers everything until it is finished.
        held = socket.create_connection(("127.0.0.1", port), timeout=60)
        held.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent = 20
        for _ in range(sent):
            assert requests.get(f"{url}/accounts/login/", timeout=30).status_code == 200
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(64).startswith(b"HTTP/1.1 200")
        held.close()

        # Each worker wrote its own counts.
        assert len({p.name for p in metrics_dir.glob("counter_*.db")}) >= 2
        labels = {"view": "login", "method": "GET", "status": "200"}
        for _ in range(6):
            answer = requests.get(
                f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            )
            assert answer.status_code == 200
            assert value(samples_of(answer.text), "beacon_http_requests_total", **labels) == (
                sent + 1
            )
    finally:
        web.terminate()
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()


# --- Figures about the work -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_business_gauges_are_the_numbers_in_the_database(client, token):
    now = timezone.now()
    org = OrganisationFactory()
    critical = CaseFactory.create_batch(2, organisation=org, priority=Priority.CRITICAL)
    CaseFactory(organisation=org, priority=Priority.HIGH, status=CaseStatus.ACTIVE)
    # Not open any more: not counted.
    CaseFactory(organisation=org, priority=Priority.CRITICAL, status=CaseStatus.FOUND)
    CaseFactory(
        organisation=org,
        priority=Priority.HIGH,
        status=CaseStatus.CLOSED,
        outcome="withdrawn",
        closed_at=now,
    )

    area = SearchAreaFactory(case=critical[0])
    for status in ("offered", "offered", "accepted", "declined"):
        TaskFactory(sector=SectorFactory(area=area), status=status)

    partner_org = OrganisationFactory()
    partner = Partner.objects.create(
        organisation=partner_org,
        base_url="https://partner.example/api/v1/",
        region=partner_org.jurisdiction,
    )
    request = AidRequestFactory(partner=partner)
    ages = {
        "waiting 10 min": (timedelta(minutes=10), {}),
        "waiting 2 min": (timedelta(minutes=2), {}),
        "delivered": (timedelta(hours=1), {"delivered_at": now}),
        "refused": (timedelta(hours=2), {"failed_at": now}),
    }
    for seq, (age, done) in enumerate(ages.values(), start=1):
        message = OutboxMessage.objects.create(
            request=request, seq=seq, type=AidMessageType.NOTE, body={}, next_attempt_at=now, **done
        )
        # created_at is set on insert; move it back to the message's age.
        OutboxMessage.objects.filter(pk=message.pk).update(created_at=now - age)

    supervisor = UserFactory(organisation=org, roles=["supervisor"])
    for deadline, status, extra in [
        (now - timedelta(hours=1), OrderStatus.ISSUED, {}),  # overdue
        (now - timedelta(hours=1), OrderStatus.ANSWERED, {"answered_at": now}),  # answered
        (now + timedelta(hours=1), OrderStatus.ISSUED, {}),  # not yet due
    ]:
        SupervisionOrder.objects.create(
            case=critical[1],
            issued_by=supervisor,
            issuer_organisation=org,
            addressee_organisation=org,
            instruction="Search the river bank again.",
            deadline=deadline,
            status=status,
            created_at=now - timedelta(hours=2),
            **extra,
        )

    samples = scrape(client)

    assert value(samples, "beacon_cases_open", priority="critical") == 2
    assert value(samples, "beacon_cases_open", priority="high") == 1
    assert value(samples, "beacon_cases_open", priority="normal") == 0
    assert value(samples, "beacon_offers_waiting") == 2
    assert value(samples, "beacon_outbox_backlog") == 2
    age = value(samples, "beacon_outbox_oldest_age_seconds")
    assert 600 <= age < 600 + 60
    assert value(samples, "beacon_supervision_orders_overdue") == 1


@pytest.mark.django_db
def test_with_nothing_waiting_the_gauges_are_zero_not_missing(client, token):
    samples = scrape(client)

    for priority in ("critical", "high", "normal"):
        assert ("beacon_cases_open", frozenset({("priority", priority)})) in samples
    assert samples[("beacon_outbox_oldest_age_seconds", frozenset())] == 0
    assert samples[("beacon_outbox_backlog", frozenset())] == 0


@pytest.mark.django_db
def test_each_partner_has_its_link_and_backlog(client, token):
    from search.models import PartnerLink

    now = timezone.now()

    def partner(code: str, *, active: bool = True) -> Partner:
        org = OrganisationFactory(code=code)
        return Partner.objects.create(
            organisation=org,
            base_url=f"https://{code.lower()}.example/api/v1/",
            region=org.jurisdiction,
            is_active=active,
        )

    down, up, retired = partner("DN"), partner("UP"), partner("RT", active=False)
    partner("NW")
    partner("GN", active=False)
    PartnerLink.objects.create(partner=down, reachable=False, since=now - timedelta(minutes=5))
    PartnerLink.objects.create(partner=up, reachable=True, since=now - timedelta(days=1))
    for who, ages in [(down, (10, 3, None)), (up, (None,)), (retired, (7,))]:
        request = AidRequestFactory(partner=who, direction="outbound", status="sent")
        for seq, minutes in enumerate(ages, start=1):
            message = OutboxMessage.objects.create(
                request=request,
                seq=seq,
                type=AidMessageType.NOTE,
                body={},
                next_attempt_at=now,
                delivered_at=now if minutes is None else None,
            )
            OutboxMessage.objects.filter(pk=message.pk).update(
                created_at=now - timedelta(minutes=minutes or 60)
            )

    samples = scrape(client)

    assert value(samples, "beacon_partner_reachable", partner="DN") == 0
    assert value(samples, "beacon_partner_reachable", partner="UP") == 1
    # Never sent to: no link yet, so neither up nor down.
    assert ("beacon_partner_reachable", frozenset({("partner", "NW")})) not in samples
    # Retired: watched while its open requests still have messages to deliver, then not at all.
    assert value(samples, "beacon_partner_backlog", partner="RT") == 1
    assert not any(labels == frozenset({("partner", "GN")}) for _, labels in samples)
    assert 300 <= value(samples, "beacon_partner_unreachable_seconds", partner="DN") < 360
    assert value(samples, "beacon_partner_unreachable_seconds", partner="UP") == 0
    assert value(samples, "beacon_partner_backlog", partner="DN") == 2
    assert value(samples, "beacon_partner_backlog", partner="UP") == 0
    assert ("beacon_partner_backlog", frozenset({("partner", "NW")})) in samples
    assert 600 <= value(samples, "beacon_partner_oldest_age_seconds", partner="DN") < 660
    assert value(samples, "beacon_partner_oldest_age_seconds", partner="UP") == 0


# --- Celery task outcomes -------------------------------------------------------------------------


@shared_task(bind=True, max_retries=2, name="tests.test_metrics.flaky")
def flaky(self):
    """Ask to be retried until the retries run out (so: retried twice, then failed)."""
    raise self.retry(countdown=0)


@pytest.mark.django_db
def test_retries_and_the_failure_after_them_are_counted(client, token):
    task = "tests.test_metrics.flaky"
    before = scrape(client)

    assert flaky.apply().state == "FAILURE"

    after = scrape(client)
    for outcome, more in [("retried", 2), ("failed", 1), ("succeeded", 0)]:
        assert value(after, "beacon_celery_tasks_total", task=task, outcome=outcome) == (
            value(before, "beacon_celery_tasks_total", task=task, outcome=outcome) + more
        ), outcome


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_outcomes_of_tasks_run_by_the_real_worker_show_in_the_web_process(
    client, token, celery_worker
):
    from search.tasks import aid_escalate, offers_notify

    def counts(samples):
        return (
            value(
                samples,
                "beacon_celery_tasks_total",
                task="search.tasks.aid_escalate",
                outcome="succeeded",
            ),
            value(
                samples,
                "beacon_celery_tasks_total",
                task="search.tasks.offers_notify",
                outcome="failed",
            ),
        )

    succeeded, failed = counts(scrape(client))

    aid_escalate.delay()
    offers_notify.delay(["not-a-task-id"])  # a task id that is no number fails the task

    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        now = counts(scrape(client))
        if now[0] > succeeded and now[1] > failed:
            break
        assert time.monotonic() < deadline, f"counted {now}, from {(succeeded, failed)}"
        time.sleep(0.2)
    # Once each: a count is made where the task ran, not again where it was sent.
    assert now == (succeeded + 1, failed + 1)
