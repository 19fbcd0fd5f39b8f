"""Test settings: the real services, kept apart from a `make run` on the same machine."""

import atexit
import os
import re
import shutil
import tempfile

from config.settings import *  # noqa: F403
from config.settings import REDIS_URL

TEST_METRICS_PREFIX = "beacon-test-metrics-"


def _metrics_dir() -> None:
    """Give this test run, and the processes it starts, a multiprocess directory of its own.

    Never the one of a `make run` on the same machine (its PROMETHEUS_MULTIPROC_DIR may be in the
    environment), and set before anything imports prometheus_client, which reads it on import.
    """
    inherited = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(inherited).startswith(TEST_METRICS_PREFIX) and os.path.isdir(inherited):
        return  # a worker or server started by the test run: count with it
    path = tempfile.mkdtemp(prefix=TEST_METRICS_PREFIX)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)


_metrics_dir()


def redis_db(url: str, db: int) -> str:
    """Return the Redis URL pointing at another database number."""
    base = re.sub(r"/\d*$", "", url.rstrip("/")) if re.search(r"://[^/]+/\d*$", url) else url
    return f"{base}/{db}"


# Tests own Redis databases 14 (cache) and 15 (broker) and a queue of their own, so a worker
# from `make run` never takes a test's task and tests may flush freely.
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", redis_db(REDIS_URL, 15))
CELERY_TASK_DEFAULT_QUEUE = "beacon-test"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("TEST_CACHE_URL", redis_db(REDIS_URL, 14)),
        "KEY_PREFIX": "beacon-test",
    }
}
# Hashing dominates a naive suite's time; tests do not need strong hashes.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# English is the tests' default language; tests that need Chinese ask for it.
LANGUAGE_CODE = "en"
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
# Live-server threads must not keep connections open past a test: the test database is dropped
# at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Every test signs in from 127.0.0.1 and the throttle's counts live on in Redis between tests: the
# sign-in limit is tested on its own (tests/accounts/test_sign_in_security.py).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
        "auth": "10000/min",
    },
}
