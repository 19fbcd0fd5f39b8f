"""One measure of bench/scale.py, run in its own process against the scale database: a dispatch.

A case is filed in the city at a unit's position and dispatched in-process (area, sectors,
matching against every unit, offers), then the one-statement floor of bench/fanout.py runs on
the same sectors. Each run is rolled back, so the scale database stays as it was built.
Prints `scale what=dispatch rows=<units in the city> p50_ms=… p95_ms=… floor_p50_ms=… ratio=…`.

    python -m bench.scale_dispatch CITY_CODE RUNS     (env: that of bench.scale's server)
"""

import statistics
import sys
import time
from datetime import timedelta


class _RolledBack(Exception):
    pass


def one_run(clerk, point) -> tuple[float, float, int]:
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.fanout import FLOOR_SQL
    from search.models import Task
    from search.services import areas, intake
    from search.services.timeline import Origin

    values = {
        "subject_name": "Bench dispatch",
        "category": "adult",
        "terrain": "urban",
        "estimated_age": 40,
        "last_seen_at": timezone.now() - timedelta(hours=4),
        "last_seen_point": point,
        "location_source": "api",
    }
    result: dict = {}
    try:
        with transaction.atomic():
            case = intake.case_open(origin=Origin(actor=clerk), data=intake.CaseInput(values))
            started = time.perf_counter()
            areas.dispatch_case(case_id=case.pk)
            result["dispatch"] = time.perf_counter() - started
            result["offers"] = Task.objects.filter(case=case).count()
            Task.objects.filter(case=case).delete()
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(FLOOR_SQL, [case.pk])
            result["floor"] = time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        pass
    return result["dispatch"], result["floor"], result["offers"]


def main() -> None:
    import django

    django.setup()
    from accounts.models import Unit, User

    city, runs = sys.argv[1], int(sys.argv[2])
    clerk = User.objects.get(username=f"{city.lower()}a-clerk")
    units = Unit.objects.filter(organisation__code__startswith=city)
    in_city = units.count()
    point = units.exclude(last_position=None).order_by("pk").first().last_position
    one_run(clerk, point)  # warm: imports, plans, caches
    took, floors, offers = [], [], 0
    for _ in range(runs):
        dispatch_s, floor_s, offers = one_run(clerk, point)
        took.append(dispatch_s * 1000)
        floors.append(floor_s * 1000)
    p95 = sorted(took)[max(0, round(len(took) * 0.95) - 1)]
    print(
        f"scale what=dispatch rows={in_city} p50_ms={statistics.median(took):.1f} "
        f"p95_ms={p95:.1f} offers={offers} floor_p50_ms={statistics.median(floors):.1f} "
        f"ratio={statistics.median(took) / max(statistics.median(floors), 0.001):.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
