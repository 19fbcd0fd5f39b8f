"""Celery task outcomes, counted in Redis so the web process can show what the workers did.

Workers are other processes, often on other machines, than the web server that answers
/metrics: each outcome is one HINCRBY under the cache's Redis and key prefix, read back at scrape
time (config/metrics.py). Counting must never fail a task: a Redis that is down loses the count,
with a warning in the log.
"""

import functools
import logging

import redis
from celery.signals import task_failure, task_retry, task_success
from django.conf import settings

log = logging.getLogger(__name__)

OUTCOMES = ("succeeded", "failed", "retried")
# Short: a task waits for its count, and a slow Redis must not hold the worker.
REDIS_TIMEOUT_SECONDS = 1.0


def _cache_location() -> tuple[str, str]:
    cache = settings.CACHES["default"]
    location = cache["LOCATION"]
    # Django's RedisCache writes to the first of several servers; so do we.
    location = location[0] if isinstance(location, list | tuple) else location.split(",")[0]
    return location, cache.get("KEY_PREFIX", "")


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )


def _key(prefix: str, outcome: str) -> str:
    return f"{prefix}:metrics:celery_tasks:{outcome}"


def record(task_name: str, outcome: str) -> None:
    """Add one to the count of this task's outcome; log and go on if Redis does not answer."""
    url, prefix = _cache_location()
    try:
        _client(url).hincrby(_key(prefix, outcome), task_name, 1)
    except redis.RedisError as exc:
        log.warning("task outcome not counted (%s %s): %s", task_name, outcome, exc)


def counts() -> dict[tuple[str, str], int]:
    """Return {(task name, outcome): count} for every outcome counted so far."""
    url, prefix = _cache_location()
    pipe = _client(url).pipeline(transaction=False)
    for outcome in OUTCOMES:
        pipe.hgetall(_key(prefix, outcome))
    result = {}
    for outcome, by_task in zip(OUTCOMES, pipe.execute(), strict=True):
        for task_name, count in by_task.items():
            result[(task_name.decode(), outcome)] = int(count)
    return result


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or "unknown"


@task_success.connect(dispatch_uid="beacon.metrics.task_success")
def _succeeded(sender=None, **kwargs) -> None:
    record(_task_name(sender), "succeeded")


@task_failure.connect(dispatch_uid="beacon.metrics.task_failure")
def _failed(sender=None, **kwargs) -> None:
    record(_task_name(sender), "failed")


@task_retry.connect(dispatch_uid="beacon.metrics.task_retry")
def _retried(sender=None, **kwargs) -> None:
    record(_task_name(sender), "retried")
