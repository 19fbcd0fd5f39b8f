"""Writes for operational records (worker round trips and heartbeats)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from search.models import HealthPing
from search.services import queue
from search.services.queue import queue_on_commit

# Heartbeats older than this are pruned: enough to see a night's gap, not a growing table.
HEARTBEAT_RETENTION = timedelta(days=2)


@transaction.atomic
def health_ping_create() -> HealthPing:
    """Return a new, unprocessed ping and queue it to a worker once committed."""
    ping = HealthPing.objects.create()
    queue_on_commit(queue.HEALTH_PING, ping.pk)
    return ping


def health_ping_complete(*, ping_id: int, worker: str) -> bool:
    """Mark the ping processed by this worker; return False if it was already (a redelivery)."""
    updated = HealthPing.objects.filter(pk=ping_id, processed_at__isnull=True).update(
        processed_at=timezone.now(), worker=worker[:200]
    )
    return updated == 1


@transaction.atomic
def heartbeat_record(*, worker: str) -> HealthPing:
    """Record that a worker ran the periodic heartbeat, and prune old ones."""
    now = timezone.now()
    HealthPing.objects.filter(processed_at__lt=now - HEARTBEAT_RETENTION).delete()
    return HealthPing.objects.create(processed_at=now, worker=worker[:200])
