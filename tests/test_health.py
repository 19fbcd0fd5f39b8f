"""GET /healthz against the real database and broker, and with the broker stopped."""

import shutil
import socket
import subprocess
import time

import pytest

from tests.helpers import wait_for

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of the test's own, so it can be stopped without harming anything else."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server must be installed (make test installs it)"
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )

    def accepting():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_for(accepting, timeout=10)
    yield proc, f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


def test_healthz_reports_database_postgis_and_broker_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["postgis"].startswith("3.")
    assert body["checks"]["broker"]["status"] == "ok"


def test_healthz_names_the_broker_when_it_is_stopped(client, settings, own_redis):
    proc, url = own_redis
    settings.CELERY_BROKER_URL = url
    assert client.get("/healthz").status_code == 200

    proc.terminate()
    proc.wait(timeout=10)
    started = time.monotonic()
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["down"] == ["broker"]
    assert body["checks"]["database"]["status"] == "ok"
    # Bounded, not instant: a generous margin for a busy machine, but no endless retrying.
    assert time.monotonic() - started < settings.HEALTH_BROKER_TIMEOUT_SECONDS + 20


def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
