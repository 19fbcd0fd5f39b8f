"""Queueing work for Celery: by name, after commit, and never raising into the caller."""

import pytest
from celery import Celery
from django.db import transaction

from config.celery import app
from search.services import queue


def test_every_queued_name_is_a_registered_task():
    app.loader.import_default_modules()
    names = [getattr(queue, n) for n in dir(queue) if n.isupper() and n != "log"]
    assert names
    assert set(names) <= set(app.tasks), set(names) - set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_is_logged_not_raised(monkeypatch, caplog):
    # A Celery app of its own, on a port where nothing listens: the real client, refused.
    dead = Celery("dead", broker="redis://127.0.0.1:1/0", set_as_current=False)
    dead.conf.broker_transport_options = {"socket_connect_timeout": 1}
    dead.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0}
    monkeypatch.setattr(queue, "current_app", dead)
    with transaction.atomic():
        queue.queue_on_commit(queue.DISPATCH, 12345)
    assert queue.publish(queue.DISPATCH, 1) is False
    assert caplog.text.count("not queued") == 2
