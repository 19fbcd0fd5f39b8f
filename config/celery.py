"""The Celery app: Redis broker, JSON only, late acknowledgement (settings: CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# DjangoTask gives every task delay_on_commit()/apply_async_on_commit(): work for Celery leaves
# only after the transaction that asked for it has committed, never for a rolled-back write.
app = Celery("beacon", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Count every task's outcome (succeeded, failed, retried) where /metrics can read it.
from config import task_outcomes  # noqa: E402, F401
