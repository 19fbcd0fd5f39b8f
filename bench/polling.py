"""Polling benchmark: what field phones cost a real server, offered at a fixed rate.

A gunicorn server (N sync workers, 2 by default as on this machine; DEBUG off; loopback) on a
database and a Redis database of its own (bench/common.py: `<name>_bench_polling`, Redis db 9
unless BENCH_POLLING_REDIS_DB says otherwise) is offered, for each path and rate, one request
every 1/rate seconds on a fixed schedule. Latency is counted from each request's *due* time, not
from when it was sent: a server that falls behind shows its queue in the figures (no coordinated
omission). Paths:

- `my/tasks` polled with If-None-Match while nothing changed (304, answered from the cache);
- `my/tasks` without it (the full list, with an API token);
- the field page `/field/` (a signed-in session);
- a position report (POST /field/actions/ kind=position, as static/js/field.js sends it);
- `/healthz`, the floor: HTTP, gunicorn and Django doing next to nothing.

One line per figure: `polling path=… offered=… achieved=… p50_ms=… p99_ms=… errors=…`.

    make bench        (or: python -m bench.polling --rates 50,100,200 --seconds 4 --workers 2)
"""

import argparse
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from bench import common

ROOT = common.ROOT
common.REDIS_DBS.setdefault("polling", 9)
PORT = common.free_port()
HOST = "127.0.0.1"
# Enough senders that each is idle most of the time at the highest rate; bounded all the same.
SENDERS = 48
TIMEOUT_S = 10.0
# How long past the last due time a figure may run before what is left is dropped.
DRAIN_S = 3.0


def bench_env() -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = common.database_url("polling")
    env["REDIS_URL"] = common.redis_url("polling")
    env["CACHE_URL"] = env["REDIS_URL"]
    env["CELERY_BROKER_URL"] = env["REDIS_URL"]
    env["CELERY_QUEUE"] = "beacon-bench-poll"
    env["API_THROTTLE_RATE"] = "1000000/min"  # the bench measures work, not the rate limit
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DEBUG"] = "0"
    env["SECURE_SSL_REDIRECT"] = "0"  # loopback without TLS
    # Plain HTTP on loopback: cookies marked Secure would never be sent back.
    env["SESSION_COOKIE_SECURE"] = "0"
    env["CSRF_COOKIE_SECURE"] = "0"
    env["SECRET_KEY"] = secrets.token_urlsafe(32)
    env["ALLOWED_HOSTS"] = HOST
    env["LOG_LEVEL"] = "WARNING"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@dataclass
class Caller:
    token: str
    session: str
    csrf: str
    unit: int


def prepare(env: dict) -> Caller:
    """Create the database afresh with the demo city, open tasks for the field unit, a token
    and a session for the demo field member."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    common.recreate_database(env["DATABASE_URL"])
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.middleware.csrf import _get_new_csrf_string
    from django.utils import timezone
    from knox.models import AuthToken

    from accounts.models import User
    from search.models import Sector
    from search.models.tasks import OPEN_TASK_STATUSES
    from search.services import areas, intake, offers
    from search.services.timeline import Origin

    call_command("migrate", verbosity=0)
    call_command("seed_demo", allow_production=True, verbosity=0)
    user = User.objects.get(username="field")
    unit = user.units.first()
    # The full list should have rows to serialise: a case where the unit is, two of its sectors
    # offered to the unit.
    case = intake.case_open(
        origin=Origin(actor=User.objects.get(username="clerk")),
        data=intake.CaseInput(
            {
                "subject_name": "Bench",
                "category": "adult",
                "estimated_age": 40,
                "last_seen_at": timezone.now() - timedelta(hours=1),
                "last_seen_point": unit.last_position,
                "location_source": "pin",
                "reporter_name": "bench",
                "reporter_phone": "+8613800138000",
                "report_channel": "other",
            }
        ),
    )
    areas.dispatch_case(case_id=case.pk)
    for sector in Sector.objects.filter(case=case, in_current_area=True).order_by("-weight")[:2]:
        if not sector.tasks.filter(unit=unit, status__in=OPEN_TASK_STATUSES).exists():
            offers.sector_reassign(origin=Origin.system(), sector=sector, unit=unit)
    _, token = AuthToken.objects.create(user=user)
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return Caller(token=token, session=store.session_key, csrf=_get_new_csrf_string(), unit=unit.pk)


def start_server(env: dict, workers: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"{HOST}:{PORT}", "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a busy machine starts gunicorn slowly
    while time.monotonic() < deadline:
        try:
            if request("GET", "/healthz")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("the bench server did not start")


def request(method: str, path: str, headers: dict | None = None, body: str | None = None):
    """Send one request on a new connection (gunicorn's sync workers close each one)."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


def paths(caller: Caller):
    """Return (name, make-request, expected status) for each measured path."""
    token = {"Authorization": f"Token {caller.token}"}
    status, headers, body = request("GET", "/api/v1/my/tasks/", token)
    assert status == 200 and headers.get("ETag"), (status, headers)
    assert json.loads(body)["count"] >= 1, "the full list has no rows to serialise"
    etag = headers["ETag"]
    cookies = f"sessionid={caller.session}; csrftoken={caller.csrf}"
    session = {"Cookie": cookies}
    post = {
        "Cookie": cookies,
        "X-CSRFToken": caller.csrf,
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }

    def position():
        body = urlencode(
            {
                "kind": "position",
                "unit": caller.unit,
                "client_id": str(uuid.uuid4()),
                "lat": 34.26,
                "lon": 117.19,
                "accuracy": 12,
            }
        )
        return ("POST", "/field/actions/", post, body)

    return [
        ("healthz", lambda: ("GET", "/healthz", {}, None), 200),
        (
            "my_tasks_304",
            lambda: ("GET", "/api/v1/my/tasks/", {**token, "If-None-Match": etag}, None),
            304,
        ),
        ("my_tasks_full", lambda: ("GET", "/api/v1/my/tasks/", token, None), 200),
        ("field_page", lambda: ("GET", "/field/", session, None), 200),
        ("position", position, 200),
    ]


def offer(make, expected: int, rate: float, seconds: float) -> dict:
    """Offer `rate` requests a second for `seconds`; latency from each request's due time.

    Bounded: what is still unsent DRAIN_S after the last due time is not sent (`dropped`), and
    counts with the time it had waited by then, a lower bound, so a saturated path stays
    visible in p99 without the bench running for minutes behind it.
    """
    total = max(1, int(rate * seconds))
    start = time.perf_counter() + 0.05
    give_up = start + seconds + DRAIN_S
    latencies: list[float] = []
    counts = {"errors": 0, "dropped": 0}
    lock = threading.Lock()
    done_at = [start]

    def sender(k: int):
        for i in range(k, total, SENDERS):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if time.perf_counter() > give_up:
                with lock:
                    latencies.append(time.perf_counter() - due)
                    counts["dropped"] += 1
                continue
            method, path, headers, body = make()
            try:
                status = request(method, path, headers, body)[0]
            except OSError:
                status = None
            finished = time.perf_counter()
            with lock:
                latencies.append(finished - due)
                done_at[0] = max(done_at[0], finished)
                if status != expected:
                    counts["errors"] += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = sorted(x * 1000 for x in latencies)
    sent = len(ms) - counts["dropped"]
    return {
        "achieved": sent / (done_at[0] - start),
        "p50": ms[len(ms) // 2],
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,100,200", help="offered requests a second")
    parser.add_argument("--seconds", type=float, default=4.0, help="per path and rate")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    print(common.load_line(), flush=True)
    env = bench_env()
    caller = prepare(env)
    server = start_server(env, args.workers)
    try:
        measured = paths(caller)
        for _, make, _ in measured:  # warm every worker's imports and connections
            for _ in range(2 * args.workers):
                request(*make())
        for rate in (float(r) for r in args.rates.split(",")):
            for name, make, expected in measured:
                result = offer(make, expected, rate, args.seconds)
                print(
                    f"polling path={name} offered={rate:.0f} achieved={result['achieved']:.0f} "
                    f"p50_ms={result['p50']:.1f} p99_ms={result['p99']:.1f} "
                    f"errors={result['errors']} dropped={result['dropped']} workers={args.workers}",
                    flush=True,
                )
                time.sleep(0.5)  # let a saturated server drain before the next figure
    finally:
        server.terminate()
        server.wait(timeout=20)
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
