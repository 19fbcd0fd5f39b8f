"""Two real Beacons on loopback: two databases, two web servers, two Celery workers.

City A (the demo city) files a case near its northern border and asks Hanshan (B) for aid;
B accepts, its unit reports a sighting, A sees it; A closes the case; B's side completes and
its tasks are cancelled. Then A asks again while B's web server is down: when B comes back the
request arrives exactly once.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from django.utils import timezone

from config.settings_test import redis_db
from search.federation.signing import new_secret
from tests.helpers import wait_http

pytestmark = pytest.mark.federation

ROOT = Path(__file__).resolve().parents[3]
WAIT = 120  # seconds for anything that crosses both cities (generous: CI may be busy)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_params() -> dict:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"] or "postgres",
        "password": db.get("PASSWORD") or None,
    }


class City:
    """One Beacon: its own database, gunicorn and Celery worker (with beat)."""

    def __init__(self, name: str, redis_number: int, logs: Path):
        self.name = name
        self.db = f"beacon_fed_{name.lower()}_{os.getpid()}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.web = None
        self.worker = None
        p = pg_params()
        auth = p["user"] + (f":{p['password']}" if p["password"] else "")
        redis_url = redis_db(settings.REDIS_URL, redis_number)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": f"two-city-test-{name}-{uuid.uuid4()}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"postgis://{auth}@{p['host']}:{p['port']}/{self.db}",
            "DB_CONN_MAX_AGE": "0",
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CACHE_URL": redis_url,
            "CACHE_KEY_PREFIX": f"fed-{name}",
            "CELERY_QUEUE": f"fed-{name}",
            "FEDERATION_RETRY_BASE_SECONDS": "0.5",
            "FEDERATION_RETRY_CAP_SECONDS": "2",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MEDIA_ROOT": str(logs / f"media-{name}"),
            "API_THROTTLE_RATE": "10000/min",
            # Loopback without TLS: production cookie flags would keep the phone signed out,
            # and the HTTPS redirect would send every call to a port that speaks no TLS.
            "SESSION_COOKIE_SECURE": "0",
            "SECURE_SSL_REDIRECT": "0",
            "API_AUTH_THROTTLE_RATE": "10000/min",
            "CSRF_COOKIE_SECURE": "0",
        }
        import redis

        redis.Redis.from_url(redis_url).flushdb()

    def create_database(self) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **pg_params()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db}"')
        with psycopg.connect(dbname=self.db, autocommit=True, **pg_params()) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def drop_database(self) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **pg_params()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tests.search.federation.instance", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        return result.stdout

    def _spawn(self, args: list[str], log_name: str):
        log = open(self.logs / f"{self.name}-{log_name}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--timeout",
                "60",
            ],
            "web",
        )
        try:
            wait_http(f"{self.url}/healthz", proc=self.web)
        except pytest.fail.Exception:
            pytest.fail(f"{self.name}'s web server did not start: {self.log('web')}")

    def start_worker(self) -> None:
        self.worker = self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--beat",
                f"--schedule={self.logs / f'beat-{self.name}'}",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                f"--queues=fed-{self.name}",
                f"--hostname=fed-{self.name}-{os.getpid()}@localhost",
            ],
            "worker",
        )

    @staticmethod
    def _stop(proc) -> None:
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_web(self) -> None:
        self._stop(self.web)
        self.web = None

    def stop(self) -> None:
        self.stop_web()
        self._stop(self.worker)

    def log(self, which: str) -> str:
        path = self.logs / f"{self.name}-{which}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def query(self, sql: str, *params):
        with psycopg.connect(dbname=self.db, **pg_params()) as conn:
            return conn.execute(sql, params).fetchall()

    def api(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        response = session.post(
            f"{self.url}/api/v1/auth/token/", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        session.headers["Authorization"] = f"Token {response.json()['token']}"
        session.base = self.url
        return session

    def browser_session(self, username: str, password: str) -> requests.Session:
        """A signed-in web session, as a phone has (cookie and CSRF token)."""
        session = requests.Session()
        session.get(f"{self.url}/accounts/login/")
        token = session.cookies["csrftoken"]
        response = session.post(
            f"{self.url}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.url}/accounts/login/"},
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:500]
        session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
        session.headers["Referer"] = f"{self.url}/field/"
        return session


def wait_for(what: str, check, timeout: float = WAIT, cities=()):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except requests.RequestException as exc:  # a slow answer on a busy machine: not yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    logs = "\n".join(f"--- {c.name} worker ---\n{c.log('worker')}" for c in cities)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})\n{logs}")


@pytest.fixture(scope="module")
def cities(tmp_path_factory):
    logs = tmp_path_factory.mktemp("two-cities")
    a = City("A", 12, logs)
    b = City("B", 13, logs)
    secret = new_secret()
    try:
        for city in (a, b):
            city.create_database()
        key_for_b = json.loads(a.manage("origin", f"{b.url}/api/v1/", secret))["key"]
        key_for_a = json.loads(b.manage("helper", f"{a.url}/api/v1/", secret))["key"]
        a.manage("link", key_for_a)
        b.manage("link", key_for_b)
        for city in (a, b):
            city.start_web()
            city.start_worker()
        yield a, b
    finally:
        for city in (a, b):
            city.stop()
        for city in (a, b):
            city.drop_database()


def file_case_near_border(a: City) -> int:
    clerk = a.api("clerk", "beacon-clerk")
    response = clerk.post(
        f"{a.url}/api/v1/cases/",
        json={
            "subject_name": "王秀英",
            "category": "dementia",
            "estimated_age": 79,
            "last_seen_at": (timezone.now() - timedelta(minutes=40)).isoformat(),
            # A kilometre south of the line between the demo city and Hanshan (34.50).
            "last_seen_location": {"type": "Point", "coordinates": [117.30, 34.49]},
            "reporter_name": "Daughter",
            "reporter_phone": "+8613800138000",
            "medical_needs": "heart condition",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def aid_status(session, city: City, request_id: str) -> str:
    response = session.get(f"{city.url}/api/v1/mutual-aid/{request_id}/")
    return response.json().get("status") if response.status_code == 200 else ""


def test_a_case_crosses_the_border_and_both_cities_track_it_to_the_end(cities):
    a, b = cities
    a_coord = a.api("coordinator", "beacon-coordinator")
    b_coord = b.api("coordinator", "beacon-coordinator")
    case_id = file_case_near_border(a)
    # A's worker computes the area; it reaches Hanshan, so A is told aid is worth asking for.
    wait_for(
        "A's search area",
        lambda: a_coord.get(f"{a.url}/api/v1/cases/{case_id}/search-areas/").json(),
        cities=(a,),
    )
    asked = a_coord.post(
        f"{a.url}/api/v1/mutual-aid/",
        json={"case": case_id, "partner": "HS", "reason": "The search area crosses into Hanshan."},
    )
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["request_id"]
    wait_for(
        "B to acknowledge",
        lambda: aid_status(a_coord, a, request_id) == "acknowledged",
        cities=(a, b),
    )

    # B sees the minimised request: no reporter, no medical detail.
    inbound = b_coord.get(f"{b.url}/api/v1/mutual-aid/?direction=inbound").json()["results"]
    assert [r["request_id"] for r in inbound] == [request_id]
    summary = inbound[0]["summary"]
    assert summary["subject_name"] == "王秀英"
    assert "medical_needs" not in summary and "reporter_phone" not in summary
    accepted = b_coord.post(
        f"{b.url}/api/v1/mutual-aid/{request_id}/accept/", json={"note": "Four teams"}
    )
    assert accepted.status_code == 200, accepted.text
    assisting_id = accepted.json()["case_id"]

    # B's dispatch offers its own ground to its own units; both sides then say active.
    wait_for("B active", lambda: aid_status(b_coord, b, request_id) == "active", cities=(b,))
    wait_for("A active", lambda: aid_status(a_coord, a, request_id) == "active", cities=(a, b))

    # B's unit accepts an offer on the phone and reports a sighting inside Hanshan.
    phone = b.browser_session("field", "beacon-field")
    task = wait_for(
        "an offer for B's unit",
        lambda: next(
            (
                t
                for t in phone.get(f"{b.url}/api/v1/my/tasks/").json()["results"]
                if t["status"] == "offered"
            ),
            None,
        ),
        cities=(b,),
    )
    taken = phone.post(
        f"{b.url}/field/actions/",
        data={"client_id": str(uuid.uuid4()), "kind": "accept", "task": task["id"]},
        headers={"Accept": "application/json"},
    )
    assert taken.status_code == 200, taken.text[:500]
    reported = phone.post(
        f"{b.url}/field/actions/",
        data={
            "client_id": str(uuid.uuid4()),
            "kind": "report",
            "task": task["id"],
            "report_kind": "sighting",
            "lat": "34.515",
            "lon": "117.305",
            "description": "Elderly woman in a blue coat by the canal bridge",
            "confidence": "plausible",
        },
        headers={"Accept": "application/json"},
    )
    assert reported.status_code == 200, reported.text[:500]

    # A sees B's sighting on its own case.
    sighting = wait_for(
        "B's sighting at A",
        lambda: next(
            (
                s
                for s in a_coord.get(f"{a.url}/api/v1/cases/{case_id}/sightings/").json()["results"]
                if "canal bridge" in s["description"]
            ),
            None,
        ),
        cities=(a, b),
    )
    assert "HS" in sighting["source"]
    assert sighting["point"]["coordinates"] == pytest.approx([117.305, 34.515])

    # A records the outcome and closes; B's side completes and its tasks are cancelled.
    closed = a_coord.post(
        f"{a.url}/api/v1/cases/{case_id}/close/",
        json={"outcome": "found_well", "note": "Found by the canal"},
    )
    assert closed.status_code == 200, closed.text
    assert aid_status(a_coord, a, request_id) == "completed"
    wait_for(
        "B completed", lambda: aid_status(b_coord, b, request_id) == "completed", cities=(a, b)
    )
    assisting = b_coord.get(f"{b.url}/api/v1/cases/{assisting_id}/").json()
    assert assisting["status"] == "closed" and assisting["outcome"] == "found_well"
    tasks = b_coord.get(f"{b.url}/api/v1/cases/{assisting_id}/tasks/").json()["results"]
    assert tasks and {t["status"] for t in tasks} <= {"cancelled", "done", "declined", "expired"}
    assert any(t["status"] == "cancelled" for t in tasks)
    # B cannot close A's case: A's case was closed by A alone, and stays as A left it.
    a_case = a_coord.get(f"{a.url}/api/v1/cases/{case_id}/").json()
    assert a_case["outcome"] == "found_well"


def test_a_request_sent_while_the_partner_is_down_arrives_exactly_once(cities):
    a, b = cities
    a_coord = a.api("coordinator", "beacon-coordinator")
    b.stop_web()
    try:
        case_id = file_case_near_border(a)
        asked = a_coord.post(
            f"{a.url}/api/v1/mutual-aid/",
            json={"case": case_id, "partner": "HS", "reason": "Second case at the border."},
        )
        assert asked.status_code == 201, asked.text
        request_id = asked.json()["request_id"]
        # A keeps trying with backoff while B is down.
        wait_for(
            "A's retries",
            lambda: a.query(
                "SELECT attempts FROM search_outboxmessage m JOIN search_mutualaidrequest r "
                "ON r.id = m.request_id WHERE r.uid = %s AND m.attempts >= 2",
                uuid.UUID(request_id),
            ),
            cities=(a,),
        )
        assert aid_status(a_coord, a, request_id) == "sent"
    finally:
        b.start_web()
    wait_for(
        "B to acknowledge after coming back",
        lambda: aid_status(a_coord, a, request_id) == "acknowledged",
        cities=(a, b),
    )
    time.sleep(3)  # let any duplicate delivery (a retry already queued) arrive too
    uid = uuid.UUID(request_id)
    assert b.query("SELECT count(*) FROM search_mutualaidrequest WHERE uid = %s", uid) == [(1,)]
    assert b.query(
        "SELECT count(*) FROM search_inboxmessage m JOIN search_mutualaidrequest r "
        "ON r.id = m.request_id WHERE r.uid = %s",
        uid,
    ) == [(1,)]
    delivered = a.query(
        "SELECT m.delivered_at IS NOT NULL, m.attempts FROM search_outboxmessage m "
        "JOIN search_mutualaidrequest r ON r.id = m.request_id WHERE r.uid = %s",
        uid,
    )
    assert delivered[0][0] is True and delivered[0][1] >= 3


def test_a_partner_that_comes_back_gets_its_backlog_at_once_and_in_order(cities):
    """B is down while A asks and adds 40 notes: A probes B with one message instead of each
    retrying on its own; when B returns, the whole stream arrives in order, each note once."""
    a, b = cities
    a_coord = a.api("coordinator", "beacon-coordinator")
    notes = 40
    b.stop_web()
    try:
        case_id = file_case_near_border(a)
        asked = a_coord.post(
            f"{a.url}/api/v1/mutual-aid/",
            json={"case": case_id, "partner": "HS", "reason": "Third case at the border."},
        )
        assert asked.status_code == 201, asked.text
        request_id = asked.json()["request_id"]
        uid = uuid.UUID(request_id)
        wait_for(
            "A to mark B down",
            lambda: a.query("SELECT reachable FROM search_partnerlink") == [(False,)],
            cities=(a,),
        )
        for n in range(notes):
            noted = a_coord.post(
                f"{a.url}/api/v1/mutual-aid/{request_id}/note/", json={"text": f"note {n}"}
            )
            assert noted.status_code == 200, noted.text
        # A goes on probing B with the request alone; the notes are not tried while B is down.
        wait_for(
            "A's probes",
            lambda: a.query(
                "SELECT m.attempts FROM search_outboxmessage m JOIN search_mutualaidrequest r "
                "ON r.id = m.request_id WHERE r.uid = %s AND m.seq = 1 AND m.attempts >= 3",
                uid,
            ),
            cities=(a,),
        )
        assert a.query(
            "SELECT count(*) FROM search_outboxmessage m JOIN search_mutualaidrequest r "
            "ON r.id = m.request_id WHERE r.uid = %s AND m.seq > 1 AND m.attempts > 0",
            uid,
        ) == [(0,)]
    finally:
        b.start_web()
    returned = time.monotonic()
    wait_for(
        "A's backlog to reach B",
        lambda: (
            a.query(
                "SELECT count(*) FROM search_outboxmessage m JOIN search_mutualaidrequest r "
                "ON r.id = m.request_id WHERE r.uid = %s AND m.delivered_at IS NULL",
                uid,
            )
            == [(0,)]
        ),
        cities=(a, b),
    )
    print(f"backlog of {notes + 1} delivered {time.monotonic() - returned:.1f} s after B's return")
    # B took them in order: nothing had to wait for an earlier one, nothing came twice.
    received = b.query(
        "SELECT m.seq, m.outcome FROM search_inboxmessage m JOIN search_mutualaidrequest r "
        "ON r.id = m.request_id WHERE r.uid = %s ORDER BY m.received_at, m.id",
        uid,
    )
    assert [seq for seq, _ in received] == list(range(1, notes + 2))
    assert {outcome for _, outcome in received[1:]} == {"applied"}
    # Each note went out once: none retried on a schedule of its own.
    assert a.query(
        "SELECT max(m.attempts) FROM search_outboxmessage m JOIN search_mutualaidrequest r "
        "ON r.id = m.request_id WHERE r.uid = %s AND m.seq > 1",
        uid,
    ) == [(1,)]
    assert a.query("SELECT reachable, failures FROM search_partnerlink") == [(True, 0)]
