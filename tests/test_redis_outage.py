"""Redis (cache and broker) stops while clerks file cases: intake answers and stores every one,
and every case is dispatched after Redis returns, with nobody doing anything.

Real processes: a Redis server of the test's own, a gunicorn web server, and a Celery worker
with beat, all pointed at the test database and at that Redis.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path

import pytest
import requests
from django.apps import apps as django_apps
from django.core.management import call_command

from accounts.models import User
from search.models import Case
from tests.conftest import _test_database_url
from tests.helpers import spawn, stop, wait_for, wait_http
from tests.search.intake_data import PIN_LAT, PIN_LON, form_payload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
OUTAGE_SECONDS = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A Redis server that can be stopped and started again on the same port."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (make test installs it)"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

        def accepting():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(accepting, timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@pytest.fixture
def stack(tmp_path):
    call_command("seed_demo", allow_production=True, verbosity=0)
    # Transactional tests empty every table, the migration's default profiles too: put them back.
    import_module("search.migrations.0005_default_profiles").create_profiles(django_apps, None)
    redis = Redis(tmp_path)
    redis.start()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "TEST_CACHE_URL": redis.url(0),
        "TEST_CELERY_BROKER_URL": redis.url(1),
        "DISPATCH_SWEEP_SECONDS": "5",
    }
    web = worker = None
    try:
        web = spawn(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"],
            env,
            tmp_path / "web.log",
        )  # fmt: skip
        worker = spawn(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
             f"--schedule={tmp_path / 'beat'}", "--concurrency=1", "--without-gossip",
             "--without-mingle", "--loglevel=INFO", "--queues=beacon-test",
             f"--hostname=outage-{os.getpid()}@localhost"],
            env,
            tmp_path / "worker.log",
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=web)
        yield redis, f"http://127.0.0.1:{port}", tmp_path
    finally:
        stop(web)
        stop(worker)
        redis.stop()


def sign_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=60)
    response = session.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def file_by_form(session: requests.Session, base: str, name: str) -> requests.Response:
    page = session.get(f"{base}/cases/new/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{base}/cases/new/",
        # Both reports look alike: say they were reviewed, as the clerk would.
        data={
            **form_payload(subject_name=name),
            "duplicates_reviewed": "on",
            "csrfmiddlewaretoken": token,
        },
        headers={"Referer": f"{base}/cases/new/"},
        allow_redirects=False,
        timeout=60,
    )


def file_by_api(base: str, token: str, name: str) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/cases/",
        json={
            "subject_name": name,
            "category": "dementia",
            "estimated_age": 80,
            "last_seen_at": time.strftime(
                "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 600)
            ),
            "last_seen_location": {"type": "Point", "coordinates": [PIN_LON, PIN_LAT]},
        },
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )


def test_intake_answers_and_stores_while_redis_is_down_and_dispatch_follows(stack):
    redis, base, logs = stack
    clerk = sign_in(base, "clerk", "beacon-clerk")
    token = requests.post(
        f"{base}/api/v1/auth/token/",
        data={"username": "clerk", "password": "beacon-clerk"},
        timeout=60,
    ).json()["token"]

    redis.stop()
    down_since = time.monotonic()
    assert requests.get(f"{base}/healthz", timeout=60).status_code == 503
    answers = []
    for n in range(2):
        answers.append(file_by_form(clerk, base, f"表单 {n}").status_code)
        answers.append(file_by_api(base, token, f"API {n}").status_code)
    assert answers == [302, 201, 302, 201], answers
    names = {"表单 0", "表单 1", "API 0", "API 1"}
    filed = list(Case.objects.filter(subject_name__in=names))
    assert len(filed) == 4
    # No dispatch could be queued: the cases wait in the database.
    assert not any(case.areas.exists() for case in filed)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))

    redis.start()
    wait_http(f"{base}/healthz", statuses=(200,))

    def all_dispatched() -> bool:
        # Dispatch ran: the search area is computed and cut into sectors to offer.
        return all(
            Case.objects.get(pk=c.pk).areas.exists() and Case.objects.get(pk=c.pk).sectors.exists()
            for c in filed
        )

    try:
        wait_for(all_dispatched, timeout=180, interval=1)
    except pytest.fail.Exception:
        pytest.fail((logs / "worker.log").read_text(errors="replace")[-4000:])
    assert User.objects.get(username="clerk").is_active
