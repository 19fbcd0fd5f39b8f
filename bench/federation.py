"""Federation benchmark: how fast a real Beacon takes a partner's signed messages.

A gunicorn server (2 workers, as on this machine) on a database of its own (bench/common.py)
receives, from a partner's key and secret:

1. new requests for aid, from 4 concurrent senders (each creates a request, its first inbox row,
   an alert and an acknowledgement);
2. an ordered stream of notes on one request, from one sender (per-request order means one at a
   time, each waiting for the one before);
3. the same new requests again, replayed (answered from the stored first answer).

It reports messages per second and p50/p95 latency for each, and checks that every message was
stored exactly once. The floor is the same server answering its health check (one database
query and a broker ping): the cost of HTTP, gunicorn and Django doing next to nothing.

    make bench        (or: python -m bench.federation --requests 200 --notes 200)
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests

from bench import common

ROOT = common.ROOT
PORT = common.free_port()
URL = f"http://127.0.0.1:{PORT}"
# Inside the demo city, near the Hanshan border: where a request from Hanshan would point.
AREA = {
    "type": "Polygon",
    "coordinates": [
        [[117.29, 34.44], [117.31, 34.44], [117.31, 34.46], [117.29, 34.46], [117.29, 34.44]]
    ],
}


def bench_env() -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = common.database_url("federation")
    # A Redis database and a queue of its own: what the receiver queues disturbs nobody.
    env["REDIS_URL"] = common.redis_url("federation")
    env["CELERY_BROKER_URL"] = env["REDIS_URL"]
    env["CELERY_QUEUE"] = "beacon-bench-fed"
    env["API_THROTTLE_RATE"] = "1000000/min"  # the bench measures work, not the rate limit
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DEBUG"] = "0"  # as deployed: no query log, no debug pages
    env["SECURE_SSL_REDIRECT"] = "0"  # loopback without TLS
    env["SECRET_KEY"] = secrets.token_urlsafe(32)
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    env["LOG_LEVEL"] = "WARNING"
    return env


def prepare(env: dict) -> tuple[str, str]:
    """Create the database afresh, the demo city and a key and secret for its partner."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    common.recreate_database(env["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    from accounts import demo
    from accounts.models import Partner, PartnerAPIKey
    from search.federation.signing import new_secret

    call_command("migrate", verbosity=0)
    call_command("seed_demo", allow_production=True, verbosity=0)
    partner = Partner.objects.get(organisation__code=demo.PARTNER.code)
    partner.signing_secret = new_secret()
    partner.save(update_fields=["signing_secret"])
    PartnerAPIKey.objects.filter(partner=partner).delete()
    _, key = PartnerAPIKey.objects.create_key(partner=partner, name="bench")
    return key, partner.signing_secret


def start_server(env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{PORT}", "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a busy machine starts gunicorn slowly
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{URL}/healthz", timeout=15).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("the bench server did not start")


class Sender:
    def __init__(self, key: str, secret: str):
        from search.federation.signing import sign_headers

        self.sign_headers = sign_headers
        self.key, self.secret = key, secret
        self.http = requests.Session()

    def envelope(self, type_: str, data: dict, request_id: str, sequence: int) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "type": type_,
            "request_id": request_id,
            "sequence": sequence,
            "sent_at": datetime.now(UTC).isoformat(),
            "origin": "HS",
            "data": data,
        }

    def post(self, body: dict) -> tuple[float, int, dict]:
        text = json.dumps(body, separators=(",", ":"))
        headers = self.sign_headers(
            secrets_=[self.secret], msg_id=body["id"], body=text, when=datetime.now(UTC)
        )
        headers |= {
            "Authorization": f"Api-Key {self.key}",
            "Idempotency-Key": body["id"],
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        response = self.http.post(f"{URL}/api/v1/federation/messages/", data=text, headers=headers)
        return time.perf_counter() - started, response.status_code, response.json()


def request_body(sender: Sender, n: int) -> dict:
    data = {
        "reason": f"Bench request {n}: the search area crosses into your city.",
        "summary": {
            "reference": f"HS-BENCH-{n:06d}",
            "category": "dementia",
            "priority": 1,
            "last_seen_at": datetime.now(UTC).isoformat(),
            "last_seen_point": {"type": "Point", "coordinates": [117.30, 34.45]},
            "subject_name": "Bench",
        },
        "area": AREA,
        "contact": {"name": "Bench coordinator", "phone": "+8613800000000"},
    }
    return sender.envelope("request", data, str(uuid.uuid4()), 1)


def summary(name: str, latencies: list[float], wall: float) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (
        f"{name:<9} n={len(ms)} per_s={len(ms) / wall:.0f} "
        f"p50_ms={statistics.median(ms):.1f} p95_ms={p95:.1f}"
    )


def run(key: str, secret: str, n_requests: int, n_notes: int) -> list[str]:
    lines = []
    # Floor: the health check, same server, same 4 senders.
    floor_sender = requests.Session()

    def health(_):
        started = time.perf_counter()
        floor_sender.get(f"{URL}/healthz")
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        floor = list(pool.map(health, range(n_requests)))
    lines.append(summary("floor", floor, time.perf_counter() - started))

    senders = [Sender(key, secret) for _ in range(4)]
    bodies = [request_body(senders[0], n) for n in range(n_requests)]

    def send(i_body):
        i, body = i_body
        took, status, answer = senders[i % 4].post(body)
        assert status == 201, (status, answer)
        return took, answer

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        first = list(pool.map(send, enumerate(bodies)))
    lines.append(summary("requests", [t for t, _ in first], time.perf_counter() - started))

    stream = Sender(key, secret)
    request_id = bodies[0]["request_id"]
    latencies = []
    started = time.perf_counter()
    for seq in range(2, n_notes + 2):
        took, status, answer = stream.post(
            stream.envelope("note", {"text": f"note {seq}"}, request_id, seq)
        )
        assert status == 200, (status, answer)
        latencies.append(took)
    lines.append(summary("notes", latencies, time.perf_counter() - started))

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(send, enumerate(bodies)))
    lines.append(summary("replays", [t for t, _ in again], time.perf_counter() - started))
    assert [a for _, a in again] == [a for _, a in first], "a replay answered differently"
    return lines


def check_once(n_requests: int, n_notes: int) -> str:
    from search.models import InboxMessage, MutualAidRequest

    requests_stored = MutualAidRequest.objects.count()
    inbox = InboxMessage.objects.count()
    assert requests_stored == n_requests, requests_stored
    assert inbox == n_requests + n_notes, inbox
    return f"stored    requests={requests_stored} inbox={inbox} (each message once)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--notes", type=int, default=200)
    args = parser.parse_args()
    print(common.load_line(), flush=True)
    env = bench_env()
    key, secret = prepare(env)
    server = start_server(env)
    try:
        for line in run(key, secret, args.requests, args.notes):
            print(line, flush=True)
        print(check_once(args.requests, args.notes))
    finally:
        server.terminate()
        server.wait(timeout=20)
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
