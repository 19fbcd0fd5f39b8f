"""A task's round trip through the real broker and a real worker process."""

import re

import pytest
from django.db import transaction

from search.services import queue
from search.tasks import dispatch_sweep
from tests.helpers import wait_for
from tests.search.dispatch_world import build_world, open_case, worker_round_trip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# Generous: the machine running the tests may be busy.
DEADLINE = 120


def worker_answers_ping(hostname: str) -> bool:
    """Return whether the worker answered a ping through the broker; any error means "not yet"."""
    from config.celery import app

    try:
        replies = app.control.ping(destination=[hostname], timeout=1)
    except Exception:  # noqa: BLE001 - a slow or hiccuping broker is only "not yet"
        return False
    return any(hostname in reply for reply in replies)


def open_case_without_dispatch(world, monkeypatch):
    """Return a committed case whose dispatch never reached the broker (as if it were down)."""
    with monkeypatch.context() as patch:
        patch.setattr(queue, "publish", lambda *args, **kwargs: False)
        return open_case(world)


def test_the_real_worker_answers_a_ping_through_the_broker(celery_worker):
    assert wait_for(lambda: worker_answers_ping(celery_worker.hostname), timeout=DEADLINE)


def test_a_task_queued_on_commit_is_run_by_the_real_worker(celery_worker):
    start = celery_worker.log_path.stat().st_size

    def worker_log() -> str:
        with open(celery_worker.log_path, encoding="utf-8", errors="replace") as log:
            log.seek(start)
            return log.read()

    case = open_case(build_world())  # commits, and queues dispatch on commit

    # The worker's own log says it ran the task to the end...
    wait_for(
        lambda: re.search(r"Task search\.tasks\.dispatch\[[^]]+\] succeeded", worker_log()),
        timeout=DEADLINE,
    )
    # ...and the database shows what it did.
    area = case.areas.get()
    assert area.computed_at >= case.created_at
    assert case.tasks.exists()


def test_task_queued_in_a_rolled_back_transaction_never_runs(celery_worker, monkeypatch):
    class Abort(Exception):
        pass

    world = build_world()
    waiting = open_case_without_dispatch(world, monkeypatch)

    with pytest.raises(Abort), transaction.atomic():
        queue.queue_on_commit(queue.DISPATCH, waiting.pk)
        raise Abort
    # A later task proves the worker is alive and has drained the queue in order.
    worker_round_trip(world)

    assert not waiting.areas.exists()


def test_beat_dispatch_sweep_on_the_worker_finds_a_case_whose_dispatch_was_lost(
    celery_worker, monkeypatch
):
    waiting = open_case_without_dispatch(build_world(), monkeypatch)
    assert not waiting.areas.exists()

    dispatch_sweep.delay()

    wait_for(lambda: waiting.areas.exists() and waiting.tasks.exists(), timeout=DEADLINE)
