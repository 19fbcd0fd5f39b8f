"""Shared fixtures: a real Celery worker on the real broker, pointed at the test database."""

import os
import sys
import time
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

from tests.helpers import spawn, stop

# Generous: a worker imports Django and connects to the broker; CI's machine may be busy.
WORKER_START_TIMEOUT = 120


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgis://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, tmp_path_factory):
    """Start a real `celery worker` process on the test broker and test database."""
    from config.celery import app

    # Leftovers from an earlier, interrupted run must not be delivered into this one.
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "DB_CONN_MAX_AGE": "0",
    }
    hostname = f"test-worker-{os.getpid()}@localhost"
    proc = spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--queues={settings.CELERY_TASK_DEFAULT_QUEUE}",
            f"--hostname={hostname}",
        ],
        env,
        log_path,
    )
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while not _pings(app, hostname):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Celery worker did not start:\n{log_path.read_text()[-4000:]}")
    proc.log_path = log_path
    proc.hostname = hostname
    _started_workers.append(proc)
    yield proc
    _started_workers.remove(proc)
    stop(proc)


# The session's worker, once some test has started it: every later test that commits must not
# leave it work that meets the table flush ending that test.
_started_workers: list = []


def _pings(app, hostname: str) -> bool:
    try:
        return bool(app.control.ping(destination=[hostname], timeout=1))
    except Exception:  # noqa: BLE001 - any broker hiccup while starting means "not yet"
        return False


def worker_is_idle(proc) -> bool:
    """Return whether the test queue is empty and the worker runs nothing."""
    from config.celery import app

    queued = redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(
        settings.CELERY_TASK_DEFAULT_QUEUE
    )
    if queued:
        return False
    replies = app.control.inspect(destination=[proc.hostname], timeout=1).active() or {}
    return not any(replies.values()) and proc.hostname in replies


def wait_until_idle(proc) -> None:
    deadline = time.monotonic() + 120
    idle_since = None
    while time.monotonic() < deadline:
        if worker_is_idle(proc):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.3:
                return
        else:
            idle_since = None
        time.sleep(0.05)
    pytest.fail("the Celery worker did not become idle")


def drop_queued_work(proc) -> None:
    """Empty the test queue and wait until the worker has finished what it had taken."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    wait_until_idle(proc)


@pytest.fixture
def celery_worker(celery_worker_process):
    """The real worker, idle and with an empty queue at the start and end of each test: work
    left by another test (a dispatch queued on commit) must not meet this test's data, nor the
    table flush that ends it."""
    drop_queued_work(celery_worker_process)
    yield celery_worker_process
    wait_until_idle(celery_worker_process)


@pytest.fixture(autouse=True)
def _language_of_the_settings():
    """Each test starts in the settings' language: a page asked for in Chinese (the public page
    activates the visitor's language) leaves it active in this thread for whatever runs next."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _worker_quiet_before_flush(request):
    """A test that commits (transactional, live server) and queues work on commit without asking
    for the worker still feeds the session's worker if it runs. That work must be dropped and
    finished before the flush that ends the test: a dispatch still writing deadlocks the
    TRUNCATE and fails the test's teardown."""
    if "_django_db_helper" in request.fixturenames:
        # Set up first, so this fixture's teardown runs before the flush.
        request.getfixturevalue("_django_db_helper")
    yield
    for proc in _started_workers:
        drop_queued_work(proc)


@pytest.fixture
def demo_world(db):
    """Seed the demo world (tests run with DEBUG off, so say it is allowed)."""
    call_command("seed_demo", allow_production=True, verbosity=0)


@pytest.fixture
def nominatim(settings):
    """A local Nominatim look-alike, with the geocoder settings pointed at it."""
    from django.core.cache import cache

    from search import geo
    from tests import fake_nominatim

    server = fake_nominatim.start()
    settings.GEOCODER = {
        **settings.GEOCODER,
        "PROVIDER": "nominatim",
        "DOMAIN": f"127.0.0.1:{server.server_address[1]}",
        "SCHEME": "http",
        # Generous: a loaded CI machine must not turn a recorded answer into a timeout.
        "TIMEOUT": 4,
        "MIN_DELAY_SECONDS": 0,
    }
    geo._geocoder.cache_clear()
    cache.clear()
    yield server
    server.shutdown()
    server.server_close()
    geo._geocoder.cache_clear()


@pytest.fixture
def clerk(demo_world):
    from accounts.models import User

    return User.objects.get(username="clerk")


@pytest.fixture
def coordinator(demo_world):
    from accounts.models import User

    return User.objects.get(username="coordinator")
