"""Work for Celery: sent once the transaction commits, and never at the expense of the request.

The database, not the broker, is the record of what must happen. If the broker is down when a
case is filed, the case is stored and the clerk gets their answer; beat's sweeps find the work
waiting in the database once the broker is back (dispatch_sweep, federation_sweep). So a
failed publish is logged, not raised.
"""

import logging
from typing import Any

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)

# Tasks are named, not imported: services sit below tasks.py, which imports them.
DISPATCH = "search.tasks.dispatch"
DISPATCH_SWEEP = "search.tasks.dispatch_sweep"
OFFERS_NOTIFY = "search.tasks.offers_notify"
DRAIN_STREAM = "search.tasks.drain_stream"
PROBE_PARTNER = "search.tasks.probe_partner"


def publish(task_name: str, *args: Any, countdown: float | None = None) -> bool:
    """Send the task now; return False (and log) if the broker cannot take it."""
    try:
        current_app.send_task(task_name, args=args, countdown=countdown)
    except Exception:  # noqa: BLE001 - a broker that is down must not fail the caller
        log.warning("broker unavailable: %s%r not queued; a sweep will find it", task_name, args)
        return False
    return True


def queue_on_commit(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send the task once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(task_name, *args, countdown=countdown))
