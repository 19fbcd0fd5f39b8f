"""Small helpers for tests that wait on another process."""

import time

import pytest


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1):
    """Poll until predicate() is truthy and return its value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_http(url: str, *, proc=None, timeout: float = 120.0, statuses=(200, 503)) -> None:
    """Wait until the server answers `url` with one of `statuses`; fail after timeout seconds.

    A fresh gunicorn worker imports Django on its first request, which takes seconds on a busy
    machine: every request error (refused, reset, read time-out) only means "not yet".
    """
    import requests

    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server at {url} exited with {proc.returncode}")
        try:
            status = requests.get(url, timeout=15).status_code
        except requests.RequestException as exc:
            last_error = repr(exc)
        else:
            if status in statuses:
                return
            last_error = f"status {status}"
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout}s: {last_error}")
