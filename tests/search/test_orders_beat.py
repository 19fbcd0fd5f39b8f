"""With nobody acting, an overdue supervision order escalates and a public alert's circle widens:
real beat, worker and broker."""

import os
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from search.choices import AlertKind
from search.models import Alert, SupervisionOrder
from search.services import supervision
from search.services.timeline import Origin
from tests.conftest import _test_database_url
from tests.factories import CaseFactory, OrganisationFactory, UserFactory
from tests.helpers import spawn, stop

# Generous: beat and the worker start Django on a machine that may be busy.
ESCALATION_DEADLINE = 120


@pytest.fixture
def beat(tmp_path):
    """Run `celery beat` on the test broker, sending the escalation and the alerts' tick every
    second."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "ORDERS_ESCALATE_SECONDS": "1",
        "PUBLIC_ALERTS_TICK_SECONDS": "1",
    }
    proc = spawn(
        [sys.executable, "-m", "celery", "-A", "config", "beat",
         f"--schedule={tmp_path / 'schedule'}", "--loglevel=INFO"],
        env,
        tmp_path / "beat.log",
    )  # fmt: skip
    yield proc
    stop(proc)


@pytest.mark.django_db(transaction=True)
def test_beat_escalates_an_overdue_order_one_level_up(celery_worker, beat, tmp_path):
    city = OrganisationFactory(code="BCT")
    county = OrganisationFactory(code="BCN", level="county", parent=city)
    supervisor = UserFactory(organisation=city, roles=["supervisor"])
    case = CaseFactory(organisation=county)
    order = supervision.order_issue(
        origin=Origin(actor=supervisor),
        case=case,
        instruction="Call the family back.",
        deadline=timezone.now() + timedelta(hours=1),
        desk=county,
    )
    # The deadline passes.
    SupervisionOrder.objects.filter(pk=order.pk).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )

    deadline = time.monotonic() + ESCALATION_DEADLINE
    while time.monotonic() < deadline:
        order.refresh_from_db()
        if order.escalated_at is not None:
            break
        assert beat.poll() is None, (tmp_path / "beat.log").read_text()[-3000:]
        time.sleep(0.5)
    else:
        pytest.fail(
            "no escalation within the deadline:\n"
            + (tmp_path / "beat.log").read_text()[-3000:]
            + celery_worker.log_path.read_text()[-3000:]
        )
    assert order.escalated_to == city
    assert Alert.objects.filter(case=case, kind=AlertKind.ORDER_OVERDUE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_beat_widens_a_public_alert_as_time_passes(celery_worker, beat, tmp_path):
    from search.models import Case
    from search.services import public

    city = OrganisationFactory(code="BPA")
    coordinator = UserFactory(organisation=city, roles=["coordinator"])
    case = CaseFactory(
        organisation=city,
        category="child",
        estimated_age=7,
        last_seen_at=timezone.now() - timedelta(minutes=20),
    )
    alert = public.alert_publish(
        origin=Origin(actor=coordinator), case=case, draft=public.AlertDraft(clearance=["age"])
    )
    assert alert.messages.get().radius_km == 100
    # Two and a half hours pass: the Tuanyuan schedule's circle is 300 km now.
    Case.objects.filter(pk=case.pk).update(last_seen_at=timezone.now() - timedelta(hours=2.5))

    deadline = time.monotonic() + ESCALATION_DEADLINE
    while time.monotonic() < deadline:
        if alert.messages.filter(reason="widened").exists():
            break
        assert beat.poll() is None, (tmp_path / "beat.log").read_text()[-3000:]
        time.sleep(0.5)
    else:
        pytest.fail(
            "no widening within the deadline:\n"
            + (tmp_path / "beat.log").read_text()[-3000:]
            + celery_worker.log_path.read_text()[-3000:]
        )
    time.sleep(3)  # more ticks: the circle did not grow again, so no more messages
    widened = list(alert.messages.filter(reason="widened"))
    assert [(m.msg_type, m.radius_km, m.number) for m in widened] == [("Update", 300, 2)]
