"""A flood of tips on a public alert, through a real gunicorn: past its rate the flood gets 429s,
nothing more is stored, and a coordinator's pages still answer meanwhile.

The flood is bounded (a fixed number of requests from a few threads on loopback). "Promptly" is
a generous bound, so that a loaded CI machine does not fail it; the figures are printed.
"""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command

from accounts.models import User
from search.models import Sighting
from search.services import public
from search.services.timeline import Origin
from tests.conftest import _test_database_url
from tests.factories import CaseFactory
from tests.helpers import spawn, stop, wait_http
from tests.test_redis_outage import free_port, sign_in

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FLOOD_REQUESTS = 400
FLOOD_THREADS = 6
TIPS_PER_ADDRESS = 5
# A coordinator's page must answer within this while the flood runs (generous: a busy machine).
PROMPT_SECONDS = 10.0


@pytest.fixture
def server(tmp_path):
    call_command("seed_demo", allow_production=True, verbosity=0)
    cache.clear()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "TIP_RATE_PER_ADDRESS": f"{TIPS_PER_ADDRESS}/10m",
        "TIP_RATE_PER_ALERT": "1000/h",
    }
    web = spawn(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "3", "--timeout", "120"],
        env,
        tmp_path / "web.log",
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=web)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(web)
        cache.clear()


def test_a_flood_of_tips_gets_429s_while_the_coordinator_page_answers(server):
    coordinator = User.objects.get(username="coordinator")
    case = CaseFactory(organisation=coordinator.organisation, created_by=coordinator)
    alert = public.alert_publish(
        origin=Origin(actor=coordinator),
        case=case,
        draft=public.AlertDraft(clearance=["given_name", "age"]),
    )
    tip_url = f"{server}/alerts/{alert.identifier}/tip/"
    tip = {
        "seen_at": time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 600)),
        "lat": "34.26",
        "lon": "117.19",
        "description": "flood",
    }
    staff = sign_in(server, "coordinator", "beacon-coordinator")
    # Warm every worker up first: the first request of each imports the views.
    for _ in range(6):
        assert staff.get(f"{server}/cases/{case.pk}/", timeout=120).status_code == 200

    statuses: list[int] = []
    lock = threading.Lock()
    flooding = threading.Event()
    flooding.set()

    def send(_):
        with requests.Session() as session:
            status = session.post(tip_url, data=tip, timeout=120, allow_redirects=False).status_code
        with lock:
            statuses.append(status)

    staff_times: list[float] = []

    def watch():
        while flooding.is_set():
            started = time.monotonic()
            answer = staff.get(f"{server}/cases/{case.pk}/", timeout=120)
            staff_times.append(time.monotonic() - started)
            assert answer.status_code == 200
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(FLOOD_THREADS) as pool:
            list(pool.map(send, range(FLOOD_REQUESTS)))
    finally:
        flooding.clear()
        watcher.join(timeout=180)

    counts = {status: statuses.count(status) for status in set(statuses)}
    print(f"flood answers {counts}; coordinator page: {len(staff_times)} answers, "
          f"slowest {max(staff_times):.3f} s")  # fmt: skip
    assert counts.get(303) == TIPS_PER_ADDRESS
    assert counts.get(429) == FLOOD_REQUESTS - TIPS_PER_ADDRESS
    assert Sighting.objects.filter(public_alert=alert).count() == TIPS_PER_ADDRESS
    assert len(staff_times) >= 3
    assert max(staff_times) < PROMPT_SECONDS
    # Refused tips cost nothing but a count: the cache, not the database, carries the flood.
    assert staff.get(f"{server}/cases/{case.pk}/", timeout=120).status_code == 200
