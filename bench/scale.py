"""Scale benchmark: five years of a province, measured through a real server.

Builds, in a database of its own, a province of 10 cities and 100 counties with five years of
history: 1,000,000 closed cases, their timelines (10 million events), 10 million tasks on their
sectors, 100,000 units, a few thousand mutual-aid requests and supervision orders, and 2,000
open cases filed in the last week (bench/scale_build.py: INSERT … SELECT from generate_series,
never the ORM row by row). Then it starts gunicorn (2 workers, DEBUG off, loopback), signs in as
a city's coordinator and supervisor, and times, one request after another:

- case_list_search: the case page with a name search and filters (closed, one category);
  case_list_search_api: the same search through the API; rows = cases in the coordinator's tree;
- case_page: a case's page (subject, timeline, aid), cases drawn at random from that tree;
- dashboard: the supervisor's figures for the last 365 days of the whole city
  (/supervision/?start=…&end=…); rows = the city's cases closed in that range;
- desk: the coordinator's home page (/); rows = open cases in the tree;
- field_page, my_tasks, my_tasks_304: a county field member's page, task list, and task list
  with the ETag it was given (answered 304); rows = units in the tree;
- dispatch: a case filed and dispatched in that city, in a process of its own, each run rolled
  back (bench/scale_dispatch.py), with the floor of bench/fanout.py on the same sectors;
- floor: /healthz on the same server, for comparison.

Each prints `scale what=… rows=… p50_ms=… p95_ms=… queries=…` (queries from the server's
X-Query-Count header: what most requests of the measure made; a worker's first request also
pays for opening its connection). A page that answers 404 is
not built yet: `scale what=… skipped=not_built`.

The database is `<DATABASE_URL's name>_scale` (or SCALE_DATABASE_URL); Redis is REDIS_URL's
server with database 8 (or SCALE_REDIS_URL), used only under the key prefix `beacon-scale` and
the queue `beacon-scale`, whose keys are deleted at the end: nothing else is touched. A second
run with the same parameters reuses a complete build (the marker table bench_scale.build holds
the parameters and the migrations it was built from); `--rebuild` forces a new one. The bench
users' password is bench.scale_build.PASSWORD.

    make bench     (or: python -m bench.scale; small: python -m bench.scale --cases 20000)
"""

import argparse
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale_build  # noqa: E402 - after the path that makes it importable
from bench.scale_build import Scale  # noqa: E402

REDIS_DB = 8
KEY_PREFIX = "beacon-scale"
SERVER_LOG = ROOT / "var" / "bench-scale-server.log"
# Common names and the filters a clerk adds to them.
SEARCHES = [
    ("王秀英", "dementia"), ("张伟", "adult"), ("李桂英", "dementia"), ("刘子涵", "child"),
    ("陈静", "despondent"), ("杨浩然", "young_child"), ("赵建国", "dementia"), ("黄敏", "adult"),
]  # fmt: skip


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def scale_database_url(suffix: str = "_scale") -> str:
    """Return SCALE_DATABASE_URL, or DATABASE_URL with `suffix` after its database name."""
    if os.environ.get("SCALE_DATABASE_URL") and suffix == "_scale":
        return os.environ["SCALE_DATABASE_URL"]
    base = os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/beacon")
    return with_database(base, (database_name(base) or "beacon") + suffix)


def scale_redis_url() -> str:
    if os.environ.get("SCALE_REDIS_URL"):
        return os.environ["SCALE_REDIS_URL"]
    base = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunsplit(base._replace(path=f"/{REDIS_DB}"))


def libpq_dsn(url: str) -> str:
    """Return the URL as psycopg takes it (postgis:// is Django's spelling)."""
    return re.sub(r"^postgis://", "postgresql://", url)


def recreate_database(url: str) -> None:
    """Drop the bench's database (and only it) and create it again, with PostGIS."""
    name = database_name(url)
    with psycopg.connect(libpq_dsn(with_database(url, "postgres")), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "LOG_LEVEL": "WARNING"}  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )


def existing_build(url: str) -> dict | None:
    try:
        with psycopg.connect(libpq_dsn(url), autocommit=True, connect_timeout=5) as conn:
            return scale_build.marker_read(conn)
    except psycopg.OperationalError:
        return None  # no such database yet


def build_fresh(url: str, scale: Scale, *, jobs: int, log=None) -> tuple[float, dict]:
    """Recreate the database, migrate it and fill it; return the seconds and the counts."""
    started = time.monotonic()
    recreate_database(url)
    migrate(url)
    return scale_build.build(libpq_dsn(url), scale, jobs=jobs, log=log, started=started)


def ensure_build(url: str, scale: Scale, *, rebuild: bool, jobs: int) -> tuple[str, float, dict]:
    """Reuse a complete build of the same parameters and schema, or build one."""
    marker = existing_build(url)
    if (
        not rebuild
        and marker
        and marker["params"] == asdict(scale)
        and marker["migrations"] == scale_build.migrations_fingerprint()
    ):
        return "reused", marker["seconds"], marker["counts"]

    def log(message):
        print(message, file=sys.stderr, flush=True)

    seconds, counts = build_fresh(url, scale, jobs=jobs, log=log)
    return "built", seconds, counts


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": scale_redis_url(),
        "CELERY_BROKER_URL": scale_redis_url(),
        "CACHE_KEY_PREFIX": KEY_PREFIX,
        "CELERY_QUEUE": KEY_PREFIX,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",  # as deployed: no query log, no debug pages
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        # Loopback without TLS: no redirect, and cookies that travel over plain HTTP.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "API_THROTTLE_RATE": "1000000/min",  # the bench measures work, not the rate limit
        "BEACON_QUERY_COUNT_HEADER": "1",
        "LANGUAGE_CODE": "en",
        "LOG_LEVEL": "WARNING",
    }


def start_server(url: str, port: int) -> subprocess.Popen:
    SERVER_LOG.parent.mkdir(exist_ok=True)
    log = SERVER_LOG.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=server_env(url), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a busy machine starts gunicorn slowly
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the bench server exited; see {SERVER_LOG}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=15).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.kill()
    raise SystemExit("the bench server did not start")


def sign_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=60).raise_for_status()
    answer = session.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": scale_build.PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=60,
    )
    if answer.status_code != 302:
        raise SystemExit(f"could not sign in as {username}: HTTP {answer.status_code}")
    return session


# -- measuring -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math_ceil(len(ordered) * share) - 1)]


def math_ceil(x: float) -> int:
    return -int(-x // 1)


def measure(
    name: str,
    session: requests.Session,
    urls: list[str],
    rows: int,
    *,
    headers: dict | None = None,
    expect: int = 200,
) -> str:
    """Time each URL in turn (after three unmeasured ones) and return the measure's line."""
    first = session.get(urls[0], timeout=600, headers=headers)
    if first.status_code == 404:
        return f"scale what={name} skipped=not_built"
    for url in urls[1:3]:
        session.get(url, timeout=600, headers=headers)
    took, queries, failures = [], [], []
    for url in urls[3:]:
        started = time.perf_counter()
        response = session.get(url, timeout=600, headers=headers)
        took.append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            failures.append(f"{response.status_code} {url}")
        queries.append(int(response.headers.get("X-Query-Count", -1)))
    line = (
        f"scale what={name} rows={rows} p50_ms={statistics.median(took):.1f} "
        f"p95_ms={percentile(took, 0.95):.1f} queries={statistics.mode(queries)}"
    )
    if failures:
        line += f" failed={len(failures)} first_failure={failures[0].replace(' ', ':', 1)}"
        # The server logs the traceback of a 500 (DEBUG is off): show where it broke.
        print(SERVER_LOG.read_text(errors="replace")[-6000:], file=sys.stderr)
    return line


def load_line(when: str) -> str:
    avg1, avg5, avg15 = os.getloadavg()
    return f"load avg1={avg1:.2f} avg5={avg5:.2f} avg15={avg15:.2f} when={when}"


def scope(url: str, city_code: str) -> dict:
    """Return the ids and counts the measures name: the city's tree, its cases, a sample."""
    from django.utils import timezone

    today = timezone.localdate()
    start = today - timedelta(days=365)
    with psycopg.connect(libpq_dsn(url)) as conn:
        tree = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM accounts_organisation WHERE code = %s"
                " OR parent_id = (SELECT id FROM accounts_organisation WHERE code = %s)",
                [city_code, city_code],
            )
        ]
        cases = conn.execute(
            "SELECT count(*) FROM search_case WHERE organisation_id = ANY(%s)", [tree]
        ).fetchone()[0]
        units = conn.execute(
            "SELECT count(*) FROM accounts_unit WHERE organisation_id = ANY(%s)", [tree]
        ).fetchone()[0]
        open_cases = conn.execute(
            "SELECT count(*) FROM search_case WHERE organisation_id = ANY(%s)"
            " AND status IN ('open', 'active')",
            [tree],
        ).fetchone()[0]
        closed_in_year = conn.execute(
            "SELECT count(*) FROM search_case WHERE organisation_id = ANY(%s)"
            " AND closed_at >= %s AND closed_at < %s",
            [tree, start, today + timedelta(days=1)],
        ).fetchone()[0]
        # Cases of the tree drawn at random (the same every run), and the newest open ones: a
        # coordinator opens those most.
        conn.execute("SELECT setseed(0.7)")
        sample = [
            row[0]
            for row in conn.execute(
                "(SELECT id FROM search_case WHERE organisation_id = ANY(%s)"
                "  ORDER BY random() LIMIT 60)"
                " UNION ALL (SELECT id FROM search_case WHERE organisation_id = ANY(%s)"
                "  AND status IN ('open', 'active') ORDER BY id DESC LIMIT 20)",
                [tree, tree],
            )
        ]
    return {
        "cases": cases,
        "units": units,
        "open": open_cases,
        "closed_in_year": closed_in_year,
        "sample": sample,
        "start": start,
        "end": today,
    }


def run_measures(url: str, port: int, samples: int) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    city = "CA"
    facts = scope(url, city)
    coordinator = sign_in(base, f"{city.lower()}-coordinator")
    supervisor = sign_in(base, f"{city.lower()}-supervisor")
    n = samples + 3
    rng = random.Random(7)
    searches = [SEARCHES[i % len(SEARCHES)] for i in range(n)]
    pages = [rng.choice(facts["sample"]) for _ in range(n)]
    window = f"start={facts['start']:%Y-%m-%d}&end={facts['end']:%Y-%m-%d}"
    lines = [load_line("measure")]
    lines.append(measure("floor", coordinator, [f"{base}/healthz"] * n, 0))
    lines.append(
        measure(
            "case_list_search",
            coordinator,
            [f"{base}/cases/?q={q}&status=closed&category={c}" for q, c in searches],
            facts["cases"],
        )
    )
    lines.append(
        measure(
            "case_list_search_api",
            coordinator,
            [f"{base}/api/v1/cases/?q={q}&status=closed&category={c}" for q, c in searches],
            facts["cases"],
        )
    )
    lines.append(
        measure("case_page", coordinator, [f"{base}/cases/{pk}/" for pk in pages], facts["cases"])
    )
    lines.append(
        measure(
            "dashboard",
            supervisor,
            [f"{base}/supervision/?{window}"] * n,
            facts["closed_in_year"],
        )
    )
    lines.append(measure("desk", coordinator, [f"{base}/"] * n, facts["open"]))
    # A field member of the city polls: the page, the task list, and the task list unchanged.
    field = sign_in(base, f"{city.lower()}a-field")
    tasks_url = f"{base}/api/v1/my/tasks/"
    lines.append(measure("field_page", field, [f"{base}/field/"] * n, facts["units"]))
    lines.append(measure("my_tasks", field, [tasks_url] * n, facts["units"]))
    etag = field.get(tasks_url, timeout=600).headers.get("ETag", "")
    lines.append(
        measure(
            "my_tasks_304",
            field,
            [tasks_url] * n,
            facts["units"],
            headers={"If-None-Match": etag},
            expect=304,
        )
    )
    lines.append(measure_dispatch(url, city, runs=max(3, samples // 10)))
    return lines


def measure_dispatch(url: str, city: str, *, runs: int) -> str:
    """Dispatch a case in the city, in a process of its own on the scale database (rolled back)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_dispatch", city, str(runs)],
        cwd=ROOT,
        env=server_env(url),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        return f"scale what=dispatch failed={done.returncode} error={done.stderr[-300:]!r}"
    return done.stdout.strip().splitlines()[-1]


def forget_redis_keys() -> None:
    """Delete the keys the bench server made (its cache prefix and queue), and nothing else."""
    import redis

    client = redis.Redis.from_url(scale_redis_url())
    keys = list(client.scan_iter(match=f"*{KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


def scale_from_args(args: argparse.Namespace) -> Scale:
    given = {f.name: getattr(args, f.name) for f in fields(Scale) if f.name != "cases"}
    return Scale.proportional(args.cases, **given)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(Scale):
        # SCALE_CASES=20000 and the like scale a `make bench` down; what is not given follows
        # the cases in the full province's proportions.
        given = os.environ.get(f"SCALE_{f.name.upper()}")
        default = int(given) if given else (f.default if f.name == "cases" else None)
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=int, default=default,
            help=f"full province: {f.default:,}",
        )  # fmt: skip
    parser.add_argument("--samples", type=int, default=50, help="timed requests per measure")
    parser.add_argument("--jobs", type=int, default=2, help="builder connections")
    parser.add_argument("--rebuild", action="store_true", help="build even if one can be reused")
    parser.add_argument("--build-only", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    print(load_line("start"), flush=True)
    url = scale_database_url()
    scale = scale_from_args(args)
    scale.check()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    how, seconds, counts = ensure_build(url, scale, rebuild=args.rebuild, jobs=args.jobs)
    print(
        f"scale what=build seconds={seconds:.0f} cases={counts['cases']} "
        f"events={counts['events']} tasks={counts['tasks']} units={counts['units']} "
        f"database={database_name(url)} {how}",
        flush=True,
    )
    if args.build_only:
        return
    port = free_port()
    server = start_server(url, port)
    try:
        for line in run_measures(url, port, args.samples):
            print(line, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        forget_redis_keys()


if __name__ == "__main__":
    main()
