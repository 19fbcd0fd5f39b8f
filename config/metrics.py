"""GET /metrics: what operations watch, in Prometheus's text format (prometheus_client).

- HTTP requests by route name, method and status, counted by RequestMetricsMiddleware. Gunicorn
  runs several worker processes: with PROMETHEUS_MULTIPROC_DIR set (`make run` and the tests set
  it), every process writes its counts to files there and a scrape adds them up. Without it the
  counts are those of the one process that answers.
- Celery task outcomes by task name, counted by the workers in Redis (config/task_outcomes.py).
- Figures about the work itself, computed at scrape time (search.selectors.operations_figures).

Who may read it: a scraper with `Authorization: Bearer <METRICS_TOKEN>`, or a signed-in staff user.
"""

import hmac
import logging
import os
import time

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from redis import RedisError

from config import task_outcomes

log = logging.getLogger(__name__)

# `_created` series double what a scrape carries and no dashboard of ours reads them.
disable_created_metrics()

# Labels take only values from small, known sets: a route's name (never its path, which holds
# ids), one of these methods, a status code.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# An answer given before any route was chosen: a path no route takes, the HTTPS redirect.
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("view", "method", "status")

# registry=None: in multiprocess mode the files are the record, and a scrape reads them through
# a registry of its own; otherwise these objects are registered in that registry directly.
REQUESTS = Counter(
    "beacon_http_requests",
    "HTTP requests answered, by route name, method and status.",
    LABELS,
    registry=None,
)
LATENCY = Histogram(
    "beacon_http_request_duration_seconds",
    "Time from the request reaching Django to its answer, by route name, method and status.",
    LABELS,
    buckets=LATENCY_BUCKETS,
    registry=None,
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class RequestMetricsMiddleware:
    """Count and time every answer; first in MIDDLEWARE, so redirects and refusals count too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        labels = (
            (match.view_name if match and match.view_name else UNMATCHED),
            request.method if request.method in METHODS else "other",
            str(response.status_code),
        )
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response


class TaskOutcomeCollector:
    """Celery task outcomes as the workers counted them in Redis."""

    def collect(self):
        family = CounterMetricFamily(
            "beacon_celery_tasks",
            "Celery tasks run, by task name and outcome (succeeded, failed, retried).",
            labels=("task", "outcome"),
        )
        try:
            counts = task_outcomes.counts()
        except RedisError as exc:
            # The other figures still help while Redis is down; the log says why these are gone.
            log.warning("metrics: task outcomes unreadable: %s", exc)
            return
        for (task_name, outcome), count in sorted(counts.items()):
            family.add_metric((task_name, outcome), count)
        yield family


class OperationsCollector:
    """Open cases, waiting offers, the partner outbox (in all and per partner) and overdue
    orders, read at scrape time."""

    def collect(self):
        from search.selectors import operations_figures

        figures = operations_figures(now=timezone.now())
        cases = GaugeMetricFamily(
            "beacon_cases_open", "Cases open or active, by priority.", labels=("priority",)
        )
        for priority, count in figures.open_cases_by_priority.items():
            cases.add_metric((priority.name.lower(),), count)
        yield cases
        yield GaugeMetricFamily(
            "beacon_offers_waiting",
            "Tasks offered to a unit and not yet answered.",
            value=figures.offers_waiting,
        )
        yield GaugeMetricFamily(
            "beacon_outbox_backlog",
            "Messages to partners neither delivered nor refused.",
            value=figures.outbox_backlog,
        )
        yield GaugeMetricFamily(
            "beacon_outbox_oldest_age_seconds",
            "Age of the oldest message to a partner still to be delivered (0 when none).",
            value=figures.outbox_oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "beacon_supervision_orders_overdue",
            "Supervision orders still waiting for their answer past their deadline.",
            value=figures.orders_overdue,
        )
        yield from _partner_families(figures.partners)


PARTNER_GAUGES = {
    "reachable": "1 while the partner answers deliveries, 0 while it does not (absent before the "
    "first).",
    "unreachable_seconds": "Seconds since the partner stopped answering (0 while it answers).",
    "backlog": "Messages to the partner neither delivered nor refused.",
    "oldest_age_seconds": "Age of the oldest message still to be delivered to the partner (0 "
    "when none).",
}


def _partner_families(partners):
    """Per partner city (its organisation code: a small set an operator configures)."""
    families = {
        name: GaugeMetricFamily(f"beacon_partner_{name}", text, labels=("partner",))
        for name, text in PARTNER_GAUGES.items()
    }
    for partner in partners:
        labels = (partner.code,)
        if partner.reachable is not None:
            families["reachable"].add_metric(labels, 1 if partner.reachable else 0)
        families["unreachable_seconds"].add_metric(labels, partner.unreachable_seconds)
        families["backlog"].add_metric(labels, partner.waiting)
        families["oldest_age_seconds"].add_metric(labels, partner.oldest_age_seconds)
    yield from families.values()


def scrape_registry() -> CollectorRegistry:
    """Return a registry holding every metric Beacon shows, for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(TaskOutcomeCollector())
    registry.register(OperationsCollector())
    return registry


def _bearer_token(request) -> str | None:
    scheme, _sep, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def _refusal(status: int) -> HttpResponse:
    response = HttpResponse(
        _("Metrics need a valid bearer token or a signed-in staff account."),
        status=status,
        content_type="text/plain; charset=utf-8",
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_GET
def metrics(request):
    """Return every metric as Prometheus text, to a scraper with the token or to staff."""
    token = _bearer_token(request)
    if token is not None:
        expected = settings.METRICS_TOKEN
        # A token sent is judged on its own, even beside a staff session: a wrong one is refused.
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return _refusal(403)
    elif not request.user.is_authenticated:
        return _refusal(401)
    elif not (request.user.is_active and request.user.is_staff):
        return _refusal(403)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
