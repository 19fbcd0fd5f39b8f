"""Ten real Beacons on loopback: mutual aid across a region, through an outage of three cities.

Each city is its own Beacon: a database of its own on the same PostgreSQL server (copied from a
migrated template, `<name>_bench_region_<n>` after DATABASE_URL's name), a Redis server of its own
on a free port, one gunicorn (2 workers) and one Celery worker with beat (2 processes). The cities
lie in two rows of five, the lower row shifted by half a city, and are partnered as neighbours on
a ring (0-1-2-3-4-5-6-7-8-9-0) plus the corner where 0, 1 and 9 meet (1-9). Each pair shares a
signing secret and has issued the other an API key; every partner sends aid requests
automatically (the seeds' arrangement between neighbours).

The run, with the deployed delivery settings:

1. Cases are filed a kilometre inside each ring border, and at the corner (one from each of its
   three cities, each reaching both others). Each search area asks the partners it reaches; the
   helpers accept; field members accept offers, report sightings and finish sectors, on their
   own and on assisting cases; coordinators send notes both ways.
2. Cities 1, 4 and 7 stop (web and worker) for OUTAGE_S while the others go on: notes to and from
   them at about 0.4 a second each, new cases near their borders, and traffic between the rest.
3. They come back at once, each as a city deploys: its Celery worker first, its web server once
   the worker answers. `catchup_s` is the time from a city answering its health check again
   until no neighbour has a message waiting for it; `found_s` the part of it before the first
   message arrived, `boot_s` the time from starting the city to its health check answering.
4. A second round of acceptance and field work; then every case is closed, and the run waits
   until nothing waits anywhere.

Then it counts, from every city's database: every message any city wrote against the partner's
inbox (lost: written, never received), notes end to end (a note the API accepted, and the number
of times its text arrived), order as applied at each receiver, and request -> acknowledged
latency for requests between two cities that were up. One line per figure:

    region cities=10 messages=… lost=… doubled=… out_of_order=… ack_p50_ms=… ack_p95_ms=…
        catchup_s=…

    make bench        (or: python -m bench.region --outage 300)
"""

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import requests

from bench import common

ROOT = common.ROOT
CITIES = 10
# Ring neighbours, plus the corner where 0, 1 and 9 meet.
PAIRS = [(i, (i + 1) % CITIES) for i in range(CITIES)] + [(1, 9)]
CORNER = (0, 1, 9)
DOWN = (1, 4, 7)
OUTAGE_S = 300
# Degrees: a city is W wide and H high (about 19 by 22 km here); the lower row starts W/2 east.
LON0, LAT0, W, H = 110.0, 30.0, 0.2, 0.2
INSIDE = 0.01  # how far inside its own city a border case is filed (about a kilometre)
# Notes offered to each city that is down, per second, while it is down (spread over its streams).
DOWN_NOTE_RATE = 0.4
HEALTHY_NOTE_RATE = 0.5
START_TIMEOUT_S = 180
QUIET_TIMEOUT_S = 240
PASSWORD = "bench-region"  # noqa: S105 - throwaway users of throwaway cities


def bbox(n: int) -> tuple[float, float, float, float]:
    if n < 5:
        return (LON0 + n * W, LAT0 + H, LON0 + (n + 1) * W, LAT0 + 2 * H)
    j = 9 - n  # the lower row runs 9, 8, 7, 6, 5 from the west
    return (LON0 + (j + 0.5) * W, LAT0, LON0 + (j + 1.5) * W, LAT0 + H)


def partners_of(n: int) -> list[int]:
    return sorted({b for a, b in PAIRS if a == n} | {a for a, b in PAIRS if b == n})


def border_point(a: int, b: int) -> tuple[float, float]:
    """Return a point INSIDE degrees within city a, off the middle of its border with b."""
    aw, as_, ae, an = bbox(a)
    bw, bs, be, bn = bbox(b)
    if abs(ae - bw) < 1e-9 or abs(aw - be) < 1e-9:  # side by side
        x = ae - INSIDE if abs(ae - bw) < 1e-9 else aw + INSIDE
        lo, hi = max(as_, bs), min(an, bn)
        return x, (lo + hi) / 2
    # One above the other: the middle of the stretch they share.
    lo, hi = max(aw, bw), min(ae, be)
    y = as_ + INSIDE if abs(as_ - bn) < 1e-9 else an - INSIDE
    return (lo + hi) / 2, y


def corner_point(n: int) -> tuple[float, float]:
    """Return a point within city n, a few hundred metres from the corner of 0, 1 and 9."""
    x, y = LON0 + W, LAT0 + H
    d = INSIDE / 2
    return {0: (x - d, y + d), 1: (x + d, y + d), 9: (x + d / 2, y - d)}[n]


# --- One city -------------------------------------------------------------------------------


def pg_params(url: str) -> dict:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else None,
    }


def db_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


@dataclass
class City:
    n: int
    logs: Path
    db_url: str = ""
    port: int = 0
    redis_port: int = 0
    procs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.code = f"R{self.n}"
        self.db_url = common.database_url(f"region_{self.n}")
        self.port = common.free_port()
        self.redis_port = common.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.logs / f"metrics-{self.n}").mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict:
        redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": f"bench-region-{self.n}-{secrets.token_urlsafe(16)}",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": self.db_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CACHE_URL": redis_url,
            "CELERY_QUEUE": "region",
            "API_THROTTLE_RATE": "1000000/min",  # the bench measures delivery, not the limit
            "API_AUTH_THROTTLE_RATE": "1000000/min",
            "SECURE_SSL_REDIRECT": "0",  # loopback without TLS
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MEDIA_ROOT": str(self.logs / f"media-{self.n}"),
            "LOG_LEVEL": "WARNING",
            # gunicorn's workers share their metrics through files: each city its own folder.
            "PROMETHEUS_MULTIPROC_DIR": str(self.logs / f"metrics-{self.n}"),
        }

    def spawn(self, name: str, args: list[str]) -> None:
        log = open(self.logs / f"{self.code}-{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_redis(self) -> None:
        self.spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
        )  # fmt: skip

    @property
    def worker_name(self) -> str:
        return f"region-{self.n}-{os.getpid()}@localhost"

    def start(self, *names: str) -> None:
        if not names or "web" in names:
            self.spawn(
                "web",
                [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                 f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "60",
                 "--log-level", "warning"],
            )  # fmt: skip
        if not names or "worker" in names:
            self.spawn(
                "worker",
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
                 f"--schedule={self.logs / f'beat-{self.n}'}", "--concurrency=2",
                 "--without-gossip", "--without-mingle", "--loglevel=WARNING",
                 "--queues=region", f"--hostname={self.worker_name}"],
            )  # fmt: skip

    def wait_worker(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until the city's Celery worker answers a ping on its own broker."""
        from celery import Celery

        app = Celery(broker=f"redis://127.0.0.1:{self.redis_port}/0")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    if app.control.ping(destination=[self.worker_name], timeout=1.0):
                        return
                except Exception:  # noqa: BLE001, S110 - not up yet, whatever the reason
                    pass
                time.sleep(0.2)
        finally:
            app.close()
        raise SystemExit(f"{self.code}'s worker did not come up; see {self.logs}")

    def stop(self, *names: str) -> None:
        # Redis last: a worker losing its broker while it stops only makes noise.
        for name in names or sorted(self.procs, key=lambda n: n == "redis"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return time.monotonic()
            time.sleep(0.1)
        raise SystemExit(f"{self.code} did not come up; see {self.logs}")

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(dbname=db_name(self.db_url), **pg_params(self.db_url)) as conn:
            return conn.execute(sql, params).fetchall()

    def manage(self, command: str, spec: dict) -> dict:
        result = subprocess.run(
            [sys.executable, "-m", "bench.region", command],
            cwd=ROOT, env=self.env, input=json.dumps(spec), capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"{self.code} {command} failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def create_databases(cities: list[City]) -> str:
    """Migrate a template once, then copy it for every city (a copy takes a second)."""
    template_url = common.database_url("region_template")
    common.recreate_database(template_url)
    env = {**os.environ, "DATABASE_URL": template_url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    params = pg_params(template_url)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        for city in cities:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name(city.db_url)}" WITH (FORCE)')
            conn.execute(
                f'CREATE DATABASE "{db_name(city.db_url)}" TEMPLATE "{db_name(template_url)}"'
            )
    return template_url


def drop_databases(urls: list[str]) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **pg_params(urls[0])) as conn:
        for url in urls:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)')


# --- Inside one city's process: seed and link ---------------------------------------------------


def seed(spec: dict) -> dict:
    """Create this city, its users and units, and its partners; return the keys it issued."""
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.utils import timezone

    from accounts.models import Organisation, Partner, PartnerAPIKey, Unit, User
    from search.geo import SRID

    def region(box):
        return MultiPolygon(Polygon.from_bbox(box), srid=SRID)

    n = spec["n"]
    box = tuple(spec["bbox"])
    city = Organisation.objects.create(
        code=f"R{n}", name=f"Region city {n}", level=Organisation.Level.CITY,
        jurisdiction=region(box),
    )  # fmt: skip
    for username, role in (("clerk", "clerk"), ("coordinator", "coordinator"), ("field", "field")):
        user = User.objects.create_user(username, password=PASSWORD, organisation=city)
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    member = User.objects.get(username="field")
    west, south, east, north = box
    for k in range(6):
        # Spread along the city: every border has a unit within reach.
        unit = Unit.objects.create(
            organisation=city,
            name=f"R{n} team {k + 1}",
            kind=Unit.Kind.PATROL,
            home_area=Polygon.from_bbox(box),
            last_position=Point(
                west + (east - west) * (k % 3 + 0.5) / 3,
                south + (north - south) * (k // 3 + 0.5) / 2,
                srid=SRID,
            ),
            last_position_at=timezone.now(),
        )
        unit.members.add(member)
    keys = {}
    for other in spec["partners"]:
        org = Organisation.objects.create(
            code=f"R{other['n']}", name=f"Region city {other['n']}",
            level=Organisation.Level.CITY, jurisdiction=region(other["bbox"]),
        )  # fmt: skip
        partner = Partner.objects.create(
            organisation=org,
            base_url=other["url"],
            region=region(other["bbox"]),
            signing_secret=other["secret"],
            auto_send=True,
        )
        _, keys[str(other["n"])] = PartnerAPIKey.objects.create_key(partner=partner, name="region")
    return keys


def link(spec: dict) -> dict:
    """Store the keys the partners issued to this city."""
    import django

    django.setup()
    from accounts.models import Partner

    for code, key in spec["keys"].items():
        Partner.objects.filter(organisation__code=code).update(outbound_api_key=key)
    return {"linked": len(spec["keys"])}


# --- Driving the region ---------------------------------------------------------------------------


class Desk:
    """One city's people, signed in: the clerk and the coordinator (API), a field member (web)."""

    def __init__(self, city: City):
        self.city = city
        self.clerk = self._token("clerk")
        self.coord = self._token("coordinator")
        self.field = self._browser("field")

    def _token(self, username: str) -> requests.Session:
        session = requests.Session()
        answer = session.post(
            f"{self.city.url}/api/v1/auth/token/",
            data={"username": username, "password": PASSWORD},
            timeout=30,
        )
        answer.raise_for_status()
        session.headers["Authorization"] = f"Token {answer.json()['token']}"
        return session

    def _browser(self, username: str) -> requests.Session:
        session = requests.Session()
        url = f"{self.city.url}/accounts/login/"
        session.get(url, timeout=30)
        session.post(
            url,
            data={"username": username, "password": PASSWORD,
                  "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": url}, allow_redirects=False, timeout=30,
        ).raise_for_status()  # fmt: skip
        session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
        session.headers["Referer"] = f"{self.city.url}/field/"
        session.headers["Accept"] = "application/json"
        return session

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.coord.request(method, f"{self.city.url}/api/v1/{path}", timeout=30, **kwargs)


@dataclass
class Ledger:
    """What the bench did and saw, for the figures."""

    notes: list[tuple[int, int, str]] = field(default_factory=list)  # (from, to, text)
    cases: list[tuple[int, int]] = field(default_factory=list)  # (city, case id)
    down_at: float = 0.0
    back: dict[int, float] = field(default_factory=dict)  # city -> monotonic time of return
    backlog: dict[int, int] = field(default_factory=dict)  # city -> messages waiting at return
    catchup: dict[int, float] = field(default_factory=dict)
    boot: dict[int, float] = field(default_factory=dict)  # city -> seconds from start to healthy
    found: dict[int, float] = field(default_factory=dict)  # seconds to its first delivery back
    outage_wall: tuple[datetime, datetime] | None = None
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text[:300])


def file_case(desk: Desk, point: tuple[float, float], ledger: Ledger, label: str) -> None:
    answer = desk.clerk.post(
        f"{desk.city.url}/api/v1/cases/",
        json={
            "subject_name": f"Region {label}",
            "category": "dementia",
            "estimated_age": 78,
            "last_seen_at": (datetime.now(UTC) - timedelta(minutes=40)).isoformat(),
            "last_seen_location": {"type": "Point", "coordinates": list(point)},
            "reporter_name": "Family",
            "reporter_phone": "+8613800138000",
        },
        timeout=30,
    )
    if answer.status_code != 201:
        ledger.error(f"{desk.city.code} case {label}: {answer.status_code} {answer.text}")
        return
    with ledger.lock:
        ledger.cases.append((desk.city.n, answer.json()["id"]))


def requests_of(desk: Desk, **filters) -> list[dict]:
    answer = desk.api("GET", "mutual-aid/", params={**filters, "page_size": 100})
    answer.raise_for_status()  # a refused filter must not pass for "nothing open"
    return answer.json()["results"]


def accept_inbound(desk: Desk, ledger: Ledger) -> int:
    """The helping coordinator takes on every request waiting for an answer."""
    taken = 0
    for request in requests_of(desk, direction="inbound", status=["sent", "acknowledged"]):
        answer = desk.api(
            "POST", f"mutual-aid/{request['request_id']}/accept/", json={"note": "ok"}
        )
        if answer.status_code == 200:
            taken += 1
        else:
            ledger.error(f"{desk.city.code} accept: {answer.status_code} {answer.text}")
    return taken


def field_round(desk: Desk, ledger: Ledger, tasks: int = 3) -> int:
    """A field member takes offers: accept, report a sighting at the sector, finish it."""
    import h3

    done = 0
    url = desk.city.url
    offered = desk.field.get(f"{url}/api/v1/my/tasks/", timeout=30)
    if offered.status_code != 200:
        ledger.error(f"{desk.city.code} my/tasks: {offered.status_code}")
        return 0
    for task in [t for t in offered.json()["results"] if t["status"] == "offered"][:tasks]:
        lat, lon = h3.cell_to_latlng(task["sector"])
        for kind, extra in (
            ("accept", {}),
            ("report", {"report_kind": "sighting", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
                        "description": "Elderly person in a grey coat", "confidence": "plausible"}),
            ("start", {}),
            ("finish", {"coverage": "100", "note": "searched"}),
        ):  # fmt: skip
            answer = desk.field.post(
                f"{url}/field/actions/",
                data={"client_id": str(uuid.uuid4()), "kind": kind, "task": task["id"], **extra},
                timeout=30,
            )
            if answer.status_code != 200:
                ledger.error(f"{desk.city.code} field {kind}: {answer.status_code}")
                break
        else:
            done += 1
    return done


def open_streams(desks: dict[int, Desk], between: tuple[int, int]) -> list[tuple[int, str]]:
    """Return (city that writes, request id) for open requests between two cities, from the
    side of the city that is up (`between[0]`)."""
    writer, other = between
    return [
        (writer, r["request_id"])
        for r in requests_of(desks[writer], open="true", partner=f"R{other}")
    ]


def send_note(desk: Desk, request_id: str, to: int, ledger: Ledger) -> None:
    text = f"bench note {uuid.uuid4()}"
    answer = desk.api("POST", f"mutual-aid/{request_id}/note/", json={"text": text})
    if answer.status_code == 200:
        with ledger.lock:
            ledger.notes.append((desk.city.n, to, text))
    else:
        ledger.error(f"{desk.city.code} note: {answer.status_code} {answer.text}")


def waiting_for(cities: dict[int, City], n: int) -> int:
    """Messages any neighbour holds for city n, not yet delivered nor refused."""
    total = 0
    for other in partners_of(n):
        total += cities[other].query(
            "SELECT count(*) FROM search_outboxmessage m "
            "JOIN search_mutualaidrequest r ON r.id = m.request_id "
            "JOIN accounts_partner p ON p.id = r.partner_id "
            "JOIN accounts_organisation o ON o.id = p.organisation_id "
            "WHERE o.code = %s AND m.delivered_at IS NULL AND m.failed_at IS NULL",
            f"R{n}",
        )[0][0]
    return total


def delivered_since(cities: dict[int, City], n: int, since: datetime) -> list[datetime]:
    """When the neighbours' messages for city n were delivered, from `since` on."""
    times = []
    for other in partners_of(n):
        times += [
            row[0]
            for row in cities[other].query(
                "SELECT m.delivered_at FROM search_outboxmessage m "
                "JOIN search_mutualaidrequest r ON r.id = m.request_id "
                "JOIN accounts_partner p ON p.id = r.partner_id "
                "JOIN accounts_organisation o ON o.id = p.organisation_id "
                "WHERE o.code = %s AND m.delivered_at >= %s",
                f"R{n}",
                since,
            )
        ]
    return times


def waiting_anywhere(cities: dict[int, City]) -> int:
    return sum(
        c.query(
            "SELECT count(*) FROM search_outboxmessage "
            "WHERE delivered_at IS NULL AND failed_at IS NULL"
        )[0][0]
        for c in cities.values()
    )


def wait_quiet(cities: dict[int, City], timeout: float = QUIET_TIMEOUT_S) -> bool:
    """Wait until no city holds a message for a partner, five seconds in a row."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if waiting_anywhere(cities) == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 5:
                return True
        else:
            quiet_since = None
        time.sleep(0.5)
    return False


def outage(cities, desks, ledger: Ledger, seconds: float, pool: ThreadPoolExecutor) -> None:
    """Stop DOWN for `seconds` while the rest goes on, then bring them back and time catch-up."""
    up = [n for n in cities if n not in DOWN]
    rng = random.Random(2026)
    for n in DOWN:
        cities[n].stop("web", "worker")
    started_wall = datetime.now(UTC)
    ledger.down_at = time.monotonic()
    end = ledger.down_at + seconds
    streams = {d: [] for d in DOWN}
    healthy_pairs = [(a, b) for a, b in PAIRS if a in up and b in up]
    tick = 0
    while time.monotonic() < end:
        if tick % 20 == 0:  # refresh the streams now and then: new cases open new requests
            for d in DOWN:
                streams[d] = [
                    (w, rid, d) for w in partners_of(d) if w in up
                    for w, rid in open_streams(desks, (w, d))
                ]  # fmt: skip
        if tick % 60 == 0:  # a new case towards each city that is down, and one elsewhere
            for d in DOWN:
                asker = next(w for w in partners_of(d) if w in up)
                pool.submit(file_case, desks[asker], border_point(asker, d), ledger, f"to-R{d}")
            a, b = rng.choice(healthy_pairs)
            pool.submit(file_case, desks[a], border_point(a, b), ledger, f"R{a}-R{b}")
        if tick % 10 == 5:
            for n in up:
                pool.submit(accept_inbound, desks[n], ledger)
        for d in DOWN:
            if streams[d] and rng.random() < DOWN_NOTE_RATE:
                writer, rid, to = rng.choice(streams[d])
                pool.submit(send_note, desks[writer], rid, to, ledger)
        if rng.random() < HEALTHY_NOTE_RATE:
            a, b = rng.choice(healthy_pairs)
            pairs = open_streams(desks, (a, b)) if tick % 5 == 0 else []
            for writer, rid in pairs[:1]:
                pool.submit(send_note, desks[writer], rid, b, ledger)
        tick += 1
        time.sleep(max(0.0, ledger.down_at + tick - time.monotonic()))
    for d in DOWN:
        ledger.backlog[d] = waiting_for(cities, d)
    ledger.outage_wall = (started_wall, datetime.now(UTC))
    started = time.monotonic()
    for d in DOWN:
        cities[d].start("worker")

    def back(d: int) -> None:
        # As a city deploys: its worker first, its web server last, so that it answers only
        # when what its answers queue can run (and, on these two shared cores, its worker's boot
        # does not compete with the catch-up it is about to receive).
        cities[d].wait_worker()
        cities[d].start("web")
        ledger.back[d] = cities[d].wait_healthy()
        back_wall = datetime.now(UTC)
        ledger.boot[d] = ledger.back[d] - started
        while waiting_for(cities, d):
            time.sleep(0.1)
        ledger.catchup[d] = time.monotonic() - ledger.back[d]
        # Split catch-up into finding the partner again and draining what waited for it.
        first = min(delivered_since(cities, d, back_wall), default=None)
        ledger.found[d] = (first - back_wall).total_seconds() if first else float("nan")

    with ThreadPoolExecutor(len(DOWN)) as watchers:
        list(watchers.map(back, DOWN))


# --- The figures ------------------------------------------------------------------------------


def partner_ids(city: City) -> dict[int, str]:
    """Partner row id -> partner city code, as this city knows them."""
    return dict(
        city.query(
            "SELECT p.id, o.code FROM accounts_partner p "
            "JOIN accounts_organisation o ON o.id = p.organisation_id"
        )
    )


def figures(cities: dict[int, City], ledger: Ledger) -> dict:
    sent: dict[tuple[str, str], set] = {}
    received: dict[tuple[str, str], list] = {}
    out_of_order = arrived_ahead = 0
    note_texts: dict[tuple[str, str], dict[str, int]] = {}
    acks: list[float] = []
    for city in cities.values():
        codes = partner_ids(city)
        for partner_id, uid in city.query(
            "SELECT r.partner_id, m.uid "
            "FROM search_outboxmessage m JOIN search_mutualaidrequest r ON r.id = m.request_id"
        ):
            sent.setdefault((city.code, codes[partner_id]), set()).add(uid)
        for partner_id, created, acked in city.query(
            "SELECT partner_id, created_at, acknowledged_at FROM search_mutualaidrequest "
            "WHERE direction = 'outbound'"
        ):
            to = int(codes[partner_id][1:])
            start, stop = ledger.outage_wall
            if to in DOWN and start - timedelta(seconds=10) <= created <= stop + timedelta(
                seconds=60
            ):
                continue  # asked while (or just before) the partner was down: not "healthy"
            if acked is not None:
                acks.append((acked - created).total_seconds() * 1000)
        for partner_id, uid, text, outcome in city.query(
            "SELECT partner_id, uid, body->'data'->>'text', outcome FROM search_inboxmessage"
        ):
            key = (codes[partner_id], city.code)
            received.setdefault(key, []).append(uid)
            if outcome == "waiting":
                arrived_ahead += 1
            if text:
                counts = note_texts.setdefault(key, {})
                counts[text] = counts.get(text, 0) + 1
        # As applied: each request's messages in sequence, none skipped nor taken twice.
        last: dict[int, int] = {}
        for request_id, seq in city.query(
            "SELECT request_id, seq FROM search_inboxmessage WHERE applied_at IS NOT NULL "
            "ORDER BY request_id, applied_at, seq"
        ):
            if seq != last.get(request_id, 0) + 1:
                out_of_order += 1
            last[request_id] = seq
    lost = sum(len(uids - set(received.get(key, []))) for key, uids in sent.items())
    doubled = sum(len(uids) - len(set(uids)) for uids in received.values())
    notes_lost = notes_doubled = 0
    for sender, to, text in ledger.notes:
        count = note_texts.get((f"R{sender}", f"R{to}"), {}).get(text, 0)
        notes_lost += count == 0
        notes_doubled += count > 1
    acks.sort()
    return {
        "messages": sum(len(u) for u in sent.values()),
        "received": sum(len(u) for u in received.values()),
        "lost": lost + notes_lost,
        "doubled": doubled + notes_doubled,
        "out_of_order": out_of_order,
        "arrived_ahead": arrived_ahead,
        "notes": len(ledger.notes),
        "notes_lost": notes_lost,
        "notes_doubled": notes_doubled,
        "acks": len(acks),
        "ack_p50_ms": statistics.median(acks) if acks else float("nan"),
        "ack_p95_ms": acks[min(len(acks) - 1, int(len(acks) * 0.95))] if acks else float("nan"),
    }


def memory_mb(cities: dict[int, City]) -> float:
    """Resident memory of every process the cities run (web, worker, Redis), summed."""
    groups = {p.pid for c in cities.values() for p in c.procs.values()}
    page_kb = os.sysconf("SC_PAGE_SIZE") / 1024
    total_kb = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After the name: state, ppid, pgrp, ... rss is the 22nd field from here.
        if int(fields[2]) in groups:
            total_kb += int(fields[21]) * page_kb
    return total_kb / 1024


def run(outage_s: float) -> list[str]:
    logs = Path(tempfile.mkdtemp(prefix="beacon-region-"))
    cities = {n: City(n, logs) for n in range(CITIES)}
    from search.federation.signing import new_secret

    secrets_ = {pair: new_secret() for pair in PAIRS}

    def secret(a: int, b: int) -> str:
        return secrets_[(a, b) if (a, b) in secrets_ else (b, a)]

    lines = []
    template = None
    started = time.monotonic()
    try:
        template = create_databases(list(cities.values()))
        for city in cities.values():
            city.start_redis()
        specs = {
            n: {
                "n": n,
                "bbox": bbox(n),
                "partners": [
                    {
                        "n": o,
                        "bbox": bbox(o),
                        "url": f"{cities[o].url}/api/v1/",
                        "secret": secret(n, o),
                    }
                    for o in partners_of(n)
                ],  # fmt: skip
            }
            for n in cities
        }
        with ThreadPoolExecutor(4) as pool:
            seeded = pool.map(lambda n: cities[n].manage("seed", specs[n]), cities)
            issued = dict(zip(cities, seeded, strict=True))

            def keys_for(n: int) -> dict:
                # City n calls o with the key o issued to n.
                return {"keys": {f"R{o}": issued[o][str(n)] for o in partners_of(n)}}

            list(pool.map(lambda n: cities[n].manage("link", keys_for(n)), cities))
        for city in cities.values():
            city.start()
        for city in cities.values():
            city.wait_healthy()
        lines.append(f"region_setup seconds={time.monotonic() - started:.0f}")
        desks = {n: Desk(c) for n, c in cities.items()}
        ledger = Ledger()
        with ThreadPoolExecutor(8) as pool:
            # 1. Border and corner cases; helpers accept; field work; notes both ways.
            # A case every two seconds, as a region's desks file them, not all in one instant.
            firsts = [(a, border_point(a, b), f"R{a}-R{b}") for a, b in PAIRS[:CITIES]]
            firsts += [(n, corner_point(n), f"corner-R{n}") for n in CORNER]
            for n, point, label in firsts:
                pool.submit(file_case, desks[n], point, ledger, label)
                time.sleep(2)
            time.sleep(20)  # areas computed, requests out and acknowledged
            for _ in range(2):
                list(pool.map(lambda n: accept_inbound(desks[n], ledger), cities))
                time.sleep(10)
                list(pool.map(lambda n: field_round(desks[n], ledger), cities))
            for a, b in PAIRS:
                for writer, to in ((a, b), (b, a)):
                    for w, rid in open_streams(desks, (writer, to))[:1]:
                        pool.submit(send_note, desks[w], rid, to, ledger)
            # 2-3. Three cities down; the region goes on; they come back.
            outage(cities, desks, ledger, outage_s, pool)
            # 4. What waited for them is answered; field work; then every case closes.
            desks.update({d: Desk(cities[d]) for d in DOWN})
            list(pool.map(lambda n: accept_inbound(desks[n], ledger), cities))
            time.sleep(10)
            list(pool.map(lambda n: field_round(desks[n], ledger), cities))
            for n, case_id in list(ledger.cases):
                answer = desks[n].api(
                    "POST", f"cases/{case_id}/close/", json={"outcome": "found_well", "note": "end"}
                )
                if answer.status_code != 200:
                    ledger.error(f"R{n} close {case_id}: {answer.status_code} {answer.text}")
        quiet = wait_quiet(cities)
        got = figures(cities, ledger)
        memory = memory_mb(cities)
        catchup = max(ledger.catchup.values())
        lines.append(
            f"region cities={CITIES} messages={got['messages']} lost={got['lost']} "
            f"doubled={got['doubled']} out_of_order={got['out_of_order']} "
            f"ack_p50_ms={got['ack_p50_ms']:.0f} ack_p95_ms={got['ack_p95_ms']:.0f} "
            f"catchup_s={catchup:.1f}"
        )
        for d in DOWN:
            lines.append(
                f"region_catchup city=R{d} backlog={ledger.backlog[d]} "
                f"catchup_s={ledger.catchup[d]:.1f} found_s={ledger.found[d]:.1f} "
                f"boot_s={ledger.boot[d]:.1f} outage_s={outage_s:.0f}"
            )
        lines.append(
            f"region_detail received={got['received']} notes={got['notes']} "
            f"notes_lost={got['notes_lost']} notes_doubled={got['notes_doubled']} "
            f"arrived_ahead={got['arrived_ahead']} acks={got['acks']} cases={len(ledger.cases)} "
            f"quiet={int(quiet)} memory_mb={memory:.0f} errors={len(ledger.errors)} "
            f"seconds={time.monotonic() - started:.0f}"
        )
        for text in ledger.errors[:20]:
            lines.append(f"# {text}")
    finally:
        for city in cities.values():
            city.stop()
        urls = [c.db_url for c in cities.values()] + ([template] if template else [])
        drop_databases(urls)
        if not os.environ.get("BENCH_REGION_KEEP_LOGS"):
            shutil.rmtree(logs, ignore_errors=True)
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("seed", "link"):
        sys.path.insert(0, str(ROOT))
        spec = json.loads(sys.stdin.read())
        print(json.dumps((seed if sys.argv[1] == "seed" else link)(spec)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=OUTAGE_S, help="seconds three are down")
    args = parser.parse_args()
    print(common.load_line(), flush=True)
    for line in run(args.outage):
        print(line, flush=True)


if __name__ == "__main__":
    main()
