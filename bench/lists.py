"""List benchmark: the 100-row case list and task list, serialised through the API views.

In a database of its own (bench/common.py: `<DATABASE_URL's name>_bench_lists`, recreated each
run), the demo world and 100 cases, one of them with 100 tasks. Each list is asked for through
its DRF view in-process (APIRequestFactory, DEBUG off, the response rendered to JSON), a few
unmeasured runs first, then the median and p95 of N runs; the query count comes from one more
run. Prints the load average first, then one line per list:

    lists what=case_list rows=100 p50_ms=… p95_ms=… queries=…

    make bench        (or: python -m bench.lists --runs 50)
"""

import argparse
import os
import secrets
import statistics
import sys
import time
from datetime import timedelta

from bench import common

ROOT = common.ROOT
ROWS = 100
# Filing a case queues its dispatch here; nothing consumes it, and the bench deletes it.
QUEUE = "beacon-bench-lists"


def setup_django() -> None:
    os.environ["DATABASE_URL"] = common.database_url("lists")
    os.environ["REDIS_URL"] = os.environ["CELERY_BROKER_URL"] = common.redis_url("lists")
    os.environ["CELERY_QUEUE"] = QUEUE
    os.environ["DEBUG"] = "0"  # as deployed: no query log kept
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    common.recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", allow_production=True, verbosity=0)


def build() -> tuple:
    """Return the coordinator and the case with 100 tasks, after filing 100 cases."""
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from accounts.models import Unit, User
    from search.geo import SRID
    from search.models import Task
    from search.services import areas, intake
    from search.services.timeline import Origin

    clerk = User.objects.get(username="clerk")
    coordinator = User.objects.get(username="coordinator")
    now = timezone.now()
    cases = []
    for n in range(ROWS):
        values = {
            "subject_name": f"李华{n}",
            "sex": "female",
            "estimated_age": 20 + n % 60,
            "category": "adult",
            "weather_exposure": "none",
            "last_seen_at": now - timedelta(hours=1 + n % 5),
            "last_seen_point": Point(117.45 + n * 0.0005, 34.30, srid=SRID),
            "last_seen_place": "",
            "location_source": "pin",
            "reporter_name": "李明",
            "reporter_phone": "+8613800138000",
            "report_channel": "walk_in",
            "medical_needs": "asthma",
        }
        cases.append(
            intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(values=values))
        )
    case = cases[0]
    areas.dispatch_case(case_id=case.pk)
    units = list(Unit.objects.order_by("pk"))
    tasked = set(case.tasks.values_list("sector_id", flat=True))
    sectors = [s for s in case.sectors.order_by("pk") if s.pk not in tasked]
    missing = ROWS - case.tasks.count()
    Task.objects.bulk_create(
        Task(
            case=case,
            sector=sector,
            unit=units[n % len(units)],
            status="done",
            rank=1,
            distance_m=100.0 + n,
            offered_at=now - timedelta(minutes=50),
            expires_at=now - timedelta(minutes=47),
            answered_at=now - timedelta(minutes=49),
            started_at=now - timedelta(minutes=45),
            finished_at=now - timedelta(minutes=5),
            last_activity_at=now - timedelta(minutes=5),
            coverage=0.8,
        )
        for n, sector in enumerate(sectors[:missing])
    )
    assert case.tasks.count() == ROWS, case.tasks.count()
    return coordinator, case


def timed(call, runs: int) -> tuple[float, float, int]:
    """Return the median and p95 in ms of `runs` calls, and the queries of one more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        call()
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        call()
    took.sort()
    p95 = took[min(len(took) - 1, -(-len(took) * 95 // 100) - 1)]
    return statistics.median(took), p95, len(queries)


def lister(view, path: str, user, rows: int, **kwargs):
    from rest_framework.test import APIRequestFactory, force_authenticate

    factory = APIRequestFactory()

    def call():
        request = factory.get(path, {"page_size": rows}, HTTP_HOST="127.0.0.1")
        force_authenticate(request, user=user)
        response = view(request, **kwargs)
        response.render()
        assert response.status_code == 200, response.content[:300]
        assert len(response.data["results"]) == rows, len(response.data["results"])
        return response

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(common.load_line(), flush=True)
    setup_django()
    from search.api.views import CaseTaskList, CaseViewSet

    coordinator, case = build()
    measures = [
        ("case_list", CaseViewSet.as_view({"get": "list"}), "/api/v1/cases/", {}),
        (
            "task_list",
            CaseTaskList.as_view({"get": "list"}),
            f"/api/v1/cases/{case.pk}/tasks/",
            {"id": case.pk},
        ),
    ]
    for what, view, path, kwargs in measures:
        p50, p95, queries = timed(lister(view, path, coordinator, ROWS, **kwargs), args.runs)
        print(
            f"lists what={what} rows={ROWS} p50_ms={p50:.1f} p95_ms={p95:.1f} queries={queries}",
            flush=True,
        )
    import redis

    redis.Redis.from_url(common.redis_url("lists")).delete(QUEUE)


if __name__ == "__main__":
    main()
