"""Celery tasks: ids in, one service call, retry policy."""

from celery import shared_task

from search.services import ops


@shared_task(bind=True)
def health_ping(self, ping_id: int) -> None:
    """Complete a health ping: proof of a round trip through broker, worker and database."""
    ops.health_ping_complete(ping_id=ping_id, worker=self.request.hostname or "")


@shared_task(bind=True)
def heartbeat(self) -> None:
    """Record that a worker is alive (scheduled by beat)."""
    ops.heartbeat_record(worker=self.request.hostname or "")
