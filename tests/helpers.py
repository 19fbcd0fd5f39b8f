"""Small helpers for tests that start, wait on and stop another process."""

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    # A worker left behind by a killed test run would take the next run's tasks from the same
    # queue, running old code: the kernel ends it when the test process goes.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a process in a session of its own (so `stop` ends its children too), logging to
    `log`; it is stopped if the test process dies first."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
        )


def stop(proc) -> None:
    """Stop the process and its children: politely, then after 30 s for good."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


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
