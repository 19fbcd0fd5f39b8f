"""A task's round trip through the real broker and a real worker process."""

import pytest
from django.db import transaction

from search.models import HealthPing
from search.services import ops
from tests.helpers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_health_ping_is_processed_by_a_real_worker(celery_worker):
    ping = ops.health_ping_create()

    done = wait_for(
        lambda: HealthPing.objects.filter(pk=ping.pk, processed_at__isnull=False).first()
    )

    assert done.worker.startswith("test-worker-")
    assert done.processed_at >= done.created_at


def test_task_queued_in_a_rolled_back_transaction_never_runs(celery_worker):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        ops.health_ping_create()
        raise Abort
    # A later ping proves the worker is alive and has drained the queue in order.
    later = ops.health_ping_create()
    wait_for(lambda: HealthPing.objects.filter(pk=later.pk, processed_at__isnull=False).exists())

    assert HealthPing.objects.count() == 1


def test_redelivered_ping_changes_nothing_the_second_time():
    ping = HealthPing.objects.create()

    first = ops.health_ping_complete(ping_id=ping.pk, worker="a@host")
    second = ops.health_ping_complete(ping_id=ping.pk, worker="b@host")

    ping.refresh_from_db()
    assert (first, second) == (True, False)
    assert ping.worker == "a@host"


def test_beat_heartbeat_runs_on_the_worker_and_prunes_old_rows(celery_worker):
    from django.utils import timezone

    from search.tasks import heartbeat

    stale = HealthPing.objects.create(worker="old@host")
    HealthPing.objects.filter(pk=stale.pk).update(
        processed_at=timezone.now() - ops.HEARTBEAT_RETENTION * 2
    )

    heartbeat.delay()

    wait_for(lambda: HealthPing.objects.filter(worker__startswith="test-worker-").exists())
    assert not HealthPing.objects.filter(pk=stale.pk).exists()
