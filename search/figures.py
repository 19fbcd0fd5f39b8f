"""The figures a search centre is judged by: each defined once here, computed in a few queries.

Every figure has a key (the CSV's), a label and a one-sentence definition that the page shows
beside it, so what is counted is written in one place. The numbers come from SQL aggregates
(conditional counts, `percentile_cont`), never from a loop over cases: the cost is the same for
one case as for a year's worth.

A period is [start, end). A target with a deadline counts a case or an offer only once its
deadline has passed by the end of the period, or by now if the period runs on: a case filed an
hour ago has not yet missed its 24 hours.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
)
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from search.choices import (
    LOCATED_OUTCOMES,
    AidStatus,
    CaseStatus,
    Outcome,
    Priority,
    SubjectCategory,
    TaskStatus,
)
from search.models import (
    Case,
    CrisisContact,
    MutualAidRequest,
    OutboxMessage,
    SupervisionOrder,
    Task,
)

# Xuzhou's service targets (shared/data/search-facts.md): "3 minutes to dispatch, 10 minutes on
# scene, feedback within 24 hours".
DISPATCH_TARGET = timedelta(minutes=3)
ON_SCENE_TARGET = timedelta(minutes=10)
FEEDBACK_TARGET = timedelta(hours=24)
LOCATED_WITHIN = timedelta(hours=24)

Kind = Literal["count", "share", "duration"]


@dataclass(frozen=True)
class Figure:
    key: str
    label: Promise
    definition: Promise
    kind: Kind


FIGURE_LIST = (
    # Recovery
    Figure(
        "cases_closed",
        _("Cases closed"),
        _("Cases closed in the period, leaving out reports that were withdrawn."),
        "count",
    ),
    Figure(
        "cases_located",
        _("Cases located"),
        _(
            "Cases closed in the period whose outcome says the person was located: found (well, "
            "needing care, injured or dead) or back by themselves."
        ),
        "count",
    ),
    Figure(
        "recovery_rate",
        _("Recovery rate"),
        _("Cases located as a share of cases closed in the period, withdrawn reports left out."),
        "share",
    ),
    Figure(
        "cases_by_outcome",
        _("Cases closed by outcome"),
        _(
            "Cases closed in the period by their outcome; withdrawn reports are shown but are "
            "left out of the recovery rate."
        ),
        "count",
    ),
    # Time to locate
    Figure(
        "time_to_locate_cases",
        _("Cases located in the period"),
        _("Cases whose person was located in the period, whatever the day the report came in."),
        "count",
    ),
    Figure(
        "time_to_locate_median_seconds",
        _("Median time to locate"),
        _(
            "Of the cases whose person was located in the period, the middle value of the time "
            "from the report being filed to the person being located."
        ),
        "duration",
    ),
    Figure(
        "time_to_locate_p90_seconds",
        _("Time to locate, 90th percentile"),
        _("The time within which 9 in 10 of those people were located."),
        "duration",
    ),
    Figure(
        "located_within_24h",
        _("Located within 24 hours"),
        _(
            "Of the reports filed in the period at least 24 hours before its end (withdrawn "
            "reports left out), the share whose person was located within 24 hours of filing."
        ),
        "share",
    ),
    # Xuzhou's service targets
    Figure(
        "target_dispatch_3min",
        _("First offer within 3 minutes"),
        _(
            "Of the reports filed in the period (withdrawn ones left out), the share whose first "
            "sector was offered to a unit within 3 minutes of filing; a case never offered to a "
            "unit misses it."
        ),
        "share",
    ),
    Figure(
        "target_on_scene_10min",
        _("Search started within 10 minutes"),
        _(
            "Of the offers made in the period that a unit accepted, the share whose unit started "
            "searching within 10 minutes of the offer."
        ),
        "share",
    ),
    Figure(
        "target_feedback_24h",
        _("Feedback to the family within 24 hours"),
        _(
            "Of the reports filed in the period at least 24 hours before its end (withdrawn ones "
            "left out), the share with a crisis-desk contact attempt or the case closed within "
            "24 hours of filing."
        ),
        "share",
    ),
    # Field work
    Figure(
        "tasks_offered",
        _("Offers made"),
        _("Sectors offered to units in the period, every offer counted, re-offers too."),
        "count",
    ),
    Figure(
        "tasks_accepted",
        _("Offers accepted"),
        _("Offers made in the period that a unit answered and did not decline or let run out."),
        "count",
    ),
    Figure(
        "tasks_declined", _("Offers declined"), _("Offers made in the period declined."), "count"
    ),
    Figure(
        "tasks_expired",
        _("Offers run out"),
        _("Offers made in the period that no one answered in time."),
        "count",
    ),
    Figure(
        "tasks_reassigned",
        _("Re-offers"),
        _("Offers made in the period of a sector another unit had been offered before."),
        "count",
    ),
    Figure(
        "answer_time_median_seconds",
        _("Median time to answer an offer"),
        _(
            "Of the offers made in the period that were answered, the middle value of the time "
            "from offer to answer; an offer that ran out counts with its time limit."
        ),
        "duration",
    ),
    Figure(
        "sectors_searched",
        _("Sectors searched"),
        _("Distinct sectors whose search a unit finished in the period."),
        "count",
    ),
    Figure(
        "coverage_mean",
        _("Mean coverage of searched sectors"),
        _("The average share of its sector that a unit reported searched, over tasks finished."),
        "share",
    ),
    # Mutual aid
    Figure(
        "aid_requests",
        _("Mutual-aid requests"),
        _(
            "Requests to and from partner cities made in the period about our cases (and, for a "
            "city's top desk, partners' requests not yet taken on), by partner and status."
        ),
        "count",
    ),
    Figure(
        "aid_acknowledged_median_seconds",
        _("Median time to acknowledge"),
        _("Of those requests, the middle value of the time until the request was received."),
        "duration",
    ),
    Figure(
        "aid_accepted_median_seconds",
        _("Median time to accept"),
        _("Of those requests accepted, the middle value of the time until they were accepted."),
        "duration",
    ),
    Figure(
        "outbox_undelivered",
        _("Messages not yet delivered"),
        _("Messages to partners about these requests, waiting now to be delivered."),
        "count",
    ),
    Figure(
        "outbox_oldest_age_seconds",
        _("Oldest message waiting"),
        _("How long the oldest of those messages has been waiting, now."),
        "duration",
    ),
    # Now
    Figure(
        "open_cases",
        _("Open cases"),
        _("Cases being searched for now (open or active), by priority and time since filing."),
        "count",
    ),
    Figure(
        "orders_overdue",
        _("Overdue supervision orders"),
        _(
            "Supervision orders addressed to these desks still waiting for an answer past their "
            "deadline, now."
        ),
        "count",
    ),
)
FIGURES = {figure.key: figure for figure in FIGURE_LIST}


@dataclass(frozen=True)
class AgeBand:
    key: str
    label: Promise
    lower: timedelta
    upper: timedelta | None


AGE_BANDS = (
    AgeBand("lt_1h", _("under 1 h"), timedelta(0), timedelta(hours=1)),
    AgeBand("1h_6h", _("1–6 h"), timedelta(hours=1), timedelta(hours=6)),
    AgeBand("6h_24h", _("6–24 h"), timedelta(hours=6), timedelta(hours=24)),
    AgeBand("1d_3d", _("1–3 days"), timedelta(days=1), timedelta(days=3)),
    AgeBand("3d_7d", _("3–7 days"), timedelta(days=3), timedelta(days=7)),
    AgeBand("gt_7d", _("over 7 days"), timedelta(days=7), None),
)


class Percentile(Aggregate):
    """percentile_cont(fraction) WITHIN GROUP (ORDER BY expression): a continuous percentile."""

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, *, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        # A float we control, written into the SQL: never a value from a request.
        super().__init__(
            expression, fraction=repr(float(fraction)), output_field=DurationField(), **extra
        )


def _median(expression: Any, **extra: Any) -> Percentile:
    return Percentile(expression, fraction=0.5, **extra)


# --- What the page and the CSV show ------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    met: int
    total: int

    @property
    def rate(self) -> float | None:
        """Return met / total, or None when there is nothing to count."""
        return self.met / self.total if self.total else None


@dataclass(frozen=True)
class Spread:
    """How long something took: how many, the median and the 90th percentile."""

    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class Recovery:
    closed: int  # withdrawn reports left out
    located: int
    by_outcome: dict[str, int]  # every outcome, withdrawn too

    @property
    def share(self) -> Share:
        return Share(self.located, self.closed)

    @property
    def withdrawn(self) -> int:
        return self.by_outcome.get(Outcome.WITHDRAWN, 0)


@dataclass(frozen=True)
class CategoryRow:
    category: str
    time_to_locate: Spread
    within_24h: Share

    @property
    def label(self) -> str:
        return str(SubjectCategory(self.category).label)


@dataclass(frozen=True)
class TaskFigures:
    offered: int
    accepted: int
    declined: int
    expired: int
    reassigned: int
    answer_median: timedelta | None
    sectors_searched: int
    coverage_mean: float | None


@dataclass(frozen=True)
class AidCell:
    partner_code: str
    partner_name: str
    status: str
    count: int


@dataclass(frozen=True)
class AidFigures:
    total: int
    cells: list[AidCell]  # one per partner and status that has a request
    acknowledged_median: timedelta | None
    accepted_median: timedelta | None
    undelivered: int
    oldest_undelivered_age: timedelta | None

    def by_status(self) -> dict[str, int]:
        """Return the count for every status, zero included."""
        counts = dict.fromkeys(AidStatus.values, 0)
        for cell in self.cells:
            counts[cell.status] += cell.count
        return counts

    def by_partner(self) -> list[tuple[str, str, dict[str, int], int]]:
        """Return (code, name, count per status, total) for each partner with a request."""
        rows: dict[str, tuple[str, dict[str, int]]] = {}
        for cell in self.cells:
            _name, counts = rows.setdefault(
                cell.partner_code, (cell.partner_name, dict.fromkeys(AidStatus.values, 0))
            )
            counts[cell.status] += cell.count
        return [(code, name, counts, sum(counts.values())) for code, (name, counts) in rows.items()]


@dataclass(frozen=True)
class OpenCases:
    counts: dict[tuple[int, str], int]  # (priority, age band key) -> open cases
    orders_overdue: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_priority(self, priority: int) -> list[int]:
        return [self.counts[(priority, band.key)] for band in AGE_BANDS]

    def by_band(self) -> list[int]:
        return [sum(self.counts[(p, band.key)] for p in Priority.values) for band in AGE_BANDS]


@dataclass(frozen=True)
class OrganisationRow:
    organisation_id: int
    code: str
    name: str
    closed: int
    located: int
    time_to_locate_median: timedelta | None

    @property
    def share(self) -> Share:
        return Share(self.located, self.closed)


@dataclass(frozen=True)
class Figures:
    start: datetime
    end: datetime
    now: datetime
    recovery: Recovery
    time_to_locate: Spread
    located_within_24h: Share
    by_category: list[CategoryRow]  # every subject category, in the order of the choices
    dispatch_3min: Share
    on_scene_10min: Share
    feedback_24h: Share
    tasks: TaskFigures
    aid: AidFigures
    open_cases: OpenCases
    organisations: list[OrganisationRow]


# --- The queries ---------------------------------------------------------------------------------


def figures_compute(
    *, organisation_ids: list[int], start: datetime, end: datetime, now: datetime
) -> Figures:
    """Return every figure for the cases of these organisations over [start, end), as of now."""
    if any(timezone.is_naive(moment) for moment in (start, end, now)):
        raise ValueError("start, end and now must be aware datetimes")
    if end <= start:
        raise ValueError("end must be after start")
    ids = list(organisation_ids)
    horizon = min(end, now)
    with transaction.atomic():
        # These aggregates are cheap to run but look dear to the planner, which then compiles
        # them (JIT) for longer than they run: a year's figures took twice as long (README,
        # "Performance"). Only for this transaction.
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('jit', 'off', true)")
        return Figures(
            start=start,
            end=end,
            now=now,
            **_case_figures(ids, start, end, horizon, now),
            by_category=_category_rows(ids, start, end, horizon),
            **_task_figures(ids, start, end, horizon),
            aid=_aid_figures(ids, start, end, now),
            organisations=_organisation_rows(ids, start, end),
        )


def _between(field: str, start: datetime, end: datetime) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


NOT_WITHDRAWN = ~Q(outcome=Outcome.WITHDRAWN)
TIME_TO_LOCATE = F("located_at") - F("created_at")


def _filed_before_deadline(start: datetime, horizon: datetime, target: timedelta) -> Q:
    """Reports filed in the period whose deadline (filing + target) has passed by the horizon."""
    return _between("created_at", start, horizon - target) & NOT_WITHDRAWN


def _case_figures(
    ids: list[int], start: datetime, end: datetime, horizon: datetime, now: datetime
) -> dict[str, Any]:
    closed_in_period = _between("closed_at", start, end)
    closed = closed_in_period & NOT_WITHDRAWN
    located_in_period = _between("located_at", start, end)
    w24 = _filed_before_deadline(start, horizon, LOCATED_WITHIN)
    dispatch = _filed_before_deadline(start, horizon, DISPATCH_TARGET)
    feedback = _filed_before_deadline(start, horizon, FEEDBACK_TARGET)
    offered_in_time = Exists(
        Task.objects.filter(
            case=OuterRef("pk"), offered_at__lte=OuterRef("created_at") + DISPATCH_TARGET
        )
    )
    contacted_in_time = Exists(
        CrisisContact.objects.filter(
            case=OuterRef("pk"), attempted_at__lte=OuterRef("created_at") + FEEDBACK_TARGET
        )
    )
    fed_back = Q(contacted_in_time) | Q(closed_at__lte=F("created_at") + FEEDBACK_TARGET)
    is_open = Q(status__in=[CaseStatus.OPEN, CaseStatus.ACTIVE])
    aggregates: dict[str, Any] = {
        "closed": Count("pk", filter=closed),
        "located": Count("pk", filter=closed & Q(outcome__in=LOCATED_OUTCOMES)),
        "ttl_count": Count("pk", filter=located_in_period),
        "ttl_median": _median(TIME_TO_LOCATE, filter=located_in_period),
        "ttl_p90": Percentile(TIME_TO_LOCATE, fraction=0.9, filter=located_in_period),
        "w24_total": Count("pk", filter=w24),
        "w24_met": Count("pk", filter=w24 & Q(located_at__lte=F("created_at") + LOCATED_WITHIN)),
        "dispatch_total": Count("pk", filter=dispatch),
        "dispatch_met": Count("pk", filter=dispatch & Q(offered_in_time)),
        "feedback_total": Count("pk", filter=feedback),
        "feedback_met": Count("pk", filter=feedback & fed_back),
    }
    for outcome in Outcome.values:
        aggregates[f"outcome_{outcome}"] = Count("pk", filter=closed_in_period & Q(outcome=outcome))
    for priority in Priority.values:
        for band in AGE_BANDS:
            in_band = Q(created_at__lte=now - band.lower)
            if band.upper is not None:
                in_band &= Q(created_at__gt=now - band.upper)
            aggregates[f"open_{priority}_{band.key}"] = Count(
                "pk", filter=is_open & Q(priority=priority) & in_band
            )
    # Only the rows some figure counts: fewer rows to aggregate, and an estimate low enough
    # that PostgreSQL does not spend longer compiling the query (JIT) than running it.
    relevant = closed_in_period | located_in_period | _between("created_at", start, end) | is_open
    row = (
        Case.objects.filter(organisation_id__in=ids)
        .filter(relevant)
        .order_by()
        .aggregate(**aggregates)
    )
    overdue = (
        SupervisionOrder.objects.overdue(now).filter(addressee_organisation_id__in=ids).count()
    )
    return {
        "recovery": Recovery(
            closed=row["closed"],
            located=row["located"],
            by_outcome={o: row[f"outcome_{o}"] for o in Outcome.values},
        ),
        "time_to_locate": Spread(row["ttl_count"], row["ttl_median"], row["ttl_p90"]),
        "located_within_24h": Share(row["w24_met"], row["w24_total"]),
        "dispatch_3min": Share(row["dispatch_met"], row["dispatch_total"]),
        "feedback_24h": Share(row["feedback_met"], row["feedback_total"]),
        "open_cases": OpenCases(
            counts={
                (p, band.key): row[f"open_{p}_{band.key}"]
                for p in Priority.values
                for band in AGE_BANDS
            },
            orders_overdue=overdue,
        ),
    }


def _category_rows(
    ids: list[int], start: datetime, end: datetime, horizon: datetime
) -> list[CategoryRow]:
    located_in_period = _between("located_at", start, end)
    w24 = _filed_before_deadline(start, horizon, LOCATED_WITHIN)
    found = {
        row["category"]: row
        for row in Case.objects.filter(organisation_id__in=ids)
        .filter(located_in_period | w24)
        .values("category")
        .annotate(
            ttl_count=Count("pk", filter=located_in_period),
            ttl_median=_median(TIME_TO_LOCATE, filter=located_in_period),
            ttl_p90=Percentile(TIME_TO_LOCATE, fraction=0.9, filter=located_in_period),
            w24_total=Count("pk", filter=w24),
            w24_met=Count("pk", filter=w24 & Q(located_at__lte=F("created_at") + LOCATED_WITHIN)),
        )
        .order_by()
    }
    rows = []
    for category in SubjectCategory.values:
        row: Mapping[str, Any] = found.get(category, {})
        rows.append(
            CategoryRow(
                category=category,
                time_to_locate=Spread(
                    row.get("ttl_count", 0), row.get("ttl_median"), row.get("ttl_p90")
                ),
                within_24h=Share(row.get("w24_met", 0), row.get("w24_total", 0)),
            )
        )
    return rows


def _task_figures(
    ids: list[int], start: datetime, end: datetime, horizon: datetime
) -> dict[str, Any]:
    offered = _between("offered_at", start, end)
    accepted = Q(answered_at__isnull=False) & ~Q(
        status__in=[TaskStatus.DECLINED, TaskStatus.EXPIRED]
    )
    # Accepted offers whose 10 minutes had passed by the horizon.
    on_scene = _between("offered_at", start, horizon - ON_SCENE_TARGET) & accepted
    done = Q(status=TaskStatus.DONE) & _between("finished_at", start, end)
    # A task is offered only while its case is open, and closing a case cancels its open tasks:
    # a task offered or finished in the period belongs to a case filed before the period's end
    # and not closed before its start. Starting from those cases (indexed by organisation and
    # time) reads a year of one city's tasks, not the whole province's (0.23 s, not 1 s, on
    # the scale bench).
    live_cases = (
        Case.objects.filter(organisation_id__in=ids, created_at__lt=end)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
        .values("pk")
    )
    row = (
        Task.objects.filter(case_id__in=live_cases)
        .filter(offered | done)
        .order_by()
        .aggregate(
            offered=Count("pk", filter=offered),
            accepted=Count("pk", filter=offered & accepted),
            declined=Count("pk", filter=offered & Q(status=TaskStatus.DECLINED)),
            expired=Count("pk", filter=offered & Q(status=TaskStatus.EXPIRED)),
            reassigned=Count("pk", filter=offered & Q(rank__gt=1)),
            answer_median=_median(
                F("answered_at") - F("offered_at"), filter=offered & Q(answered_at__isnull=False)
            ),
            on_scene_total=Count("pk", filter=on_scene),
            on_scene_met=Count(
                "pk", filter=on_scene & Q(started_at__lte=F("offered_at") + ON_SCENE_TARGET)
            ),
            sectors=Count("sector", distinct=True, filter=done),
            coverage=Avg("coverage", filter=done),
        )
    )
    return {
        "tasks": TaskFigures(
            offered=row["offered"],
            accepted=row["accepted"],
            declined=row["declined"],
            expired=row["expired"],
            reassigned=row["reassigned"],
            answer_median=row["answer_median"],
            sectors_searched=row["sectors"],
            coverage_mean=row["coverage"],
        ),
        "on_scene_10min": Share(row["on_scene_met"], row["on_scene_total"]),
    }


def _aid_in_scope(ids: list[int]) -> Q:
    """Requests about our cases; a partner's request with no case yet belongs to the city's top
    desk, so it counts when the scope holds a root organisation."""
    root_in_scope = Exists(Organisation.objects.filter(pk__in=ids, parent__isnull=True))
    return Q(case__organisation_id__in=ids) | Q(root_in_scope, case__isnull=True)


def _aid_figures(ids: list[int], start: datetime, end: datetime, now: datetime) -> AidFigures:
    scope = _aid_in_scope(ids)
    requests = MutualAidRequest.objects.filter(scope).filter(_between("created_at", start, end))
    medians = requests.order_by().aggregate(
        total=Count("pk"),
        acknowledged=_median(
            F("acknowledged_at") - F("created_at"), filter=Q(acknowledged_at__isnull=False)
        ),
        accepted=_median(F("accepted_at") - F("created_at"), filter=Q(accepted_at__isnull=False)),
    )
    cells = [
        AidCell(
            partner_code=row["partner__organisation__code"],
            partner_name=row["partner__organisation__name"],
            status=row["status"],
            count=row["n"],
        )
        for row in requests.values(
            "partner__organisation__code", "partner__organisation__name", "status"
        )
        .annotate(n=Count("pk"))
        .order_by("partner__organisation__code", "status")
    ]
    waiting = (
        OutboxMessage.objects.filter(delivered_at__isnull=True, failed_at__isnull=True)
        .filter(request__in=MutualAidRequest.objects.filter(scope).values("pk"))
        .order_by()
        .aggregate(n=Count("pk"), oldest=Min("created_at"))
    )
    return AidFigures(
        total=medians["total"],
        cells=cells,
        acknowledged_median=medians["acknowledged"],
        accepted_median=medians["accepted"],
        undelivered=waiting["n"],
        oldest_undelivered_age=now - waiting["oldest"] if waiting["oldest"] else None,
    )


def _organisation_rows(ids: list[int], start: datetime, end: datetime) -> list[OrganisationRow]:
    closed_in_period = _between("closed_at", start, end)
    located_in_period = _between("located_at", start, end)
    closed = closed_in_period & NOT_WITHDRAWN
    # Grouped on the cases' side, so the organisation and period indexes pick the rows: joined
    # from the organisations, the period's cases of every city were read.
    found = {
        row["organisation_id"]: row
        for row in Case.objects.filter(organisation_id__in=ids)
        .filter(closed_in_period | located_in_period)
        .values("organisation_id")
        .annotate(
            closed=Count("pk", filter=closed),
            located=Count("pk", filter=closed & Q(outcome__in=LOCATED_OUTCOMES)),
            ttl_median=_median(TIME_TO_LOCATE, filter=located_in_period),
        )
        .order_by()
    }
    rows = []
    # Every organisation gets its row, one without a case in the period too.
    for organisation in Organisation.objects.filter(pk__in=ids).order_by("code"):
        row: Mapping[str, Any] = found.get(organisation.pk, {})
        rows.append(
            OrganisationRow(
                organisation_id=organisation.pk,
                code=organisation.code,
                name=organisation.name,
                closed=row.get("closed", 0),
                located=row.get("located", 0),
                time_to_locate_median=row.get("ttl_median"),
            )
        )
    return rows


# --- One row per value: the CSV ------------------------------------------------------------------

Value = int | float | None


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


def figure_rows(figures: Figures) -> Iterator[tuple[str, str, Value]]:
    """Yield (figure key, breakdown, value) for every value: durations in whole seconds, shares
    as fractions from 0 to 1, an empty value where there was nothing to count."""
    recovery = figures.recovery
    yield "cases_closed", "", recovery.closed
    yield "cases_located", "", recovery.located
    yield "recovery_rate", "", recovery.share.rate
    for outcome, count in recovery.by_outcome.items():
        yield "cases_by_outcome", f"outcome={outcome}", count
    spread = figures.time_to_locate
    yield "time_to_locate_cases", "", spread.count
    yield "time_to_locate_median_seconds", "", _seconds(spread.median)
    yield "time_to_locate_p90_seconds", "", _seconds(spread.p90)
    yield "located_within_24h", "", figures.located_within_24h.rate
    for row in figures.by_category:
        breakdown = f"category={row.category}"
        yield "time_to_locate_cases", breakdown, row.time_to_locate.count
        yield "time_to_locate_median_seconds", breakdown, _seconds(row.time_to_locate.median)
        yield "time_to_locate_p90_seconds", breakdown, _seconds(row.time_to_locate.p90)
        yield "located_within_24h", breakdown, row.within_24h.rate
    yield "target_dispatch_3min", "", figures.dispatch_3min.rate
    yield "target_on_scene_10min", "", figures.on_scene_10min.rate
    yield "target_feedback_24h", "", figures.feedback_24h.rate
    tasks = figures.tasks
    yield "tasks_offered", "", tasks.offered
    yield "tasks_accepted", "", tasks.accepted
    yield "tasks_declined", "", tasks.declined
    yield "tasks_expired", "", tasks.expired
    yield "tasks_reassigned", "", tasks.reassigned
    yield "answer_time_median_seconds", "", _seconds(tasks.answer_median)
    yield "sectors_searched", "", tasks.sectors_searched
    yield "coverage_mean", "", tasks.coverage_mean
    aid = figures.aid
    yield "aid_requests", "", aid.total
    for cell in aid.cells:
        yield "aid_requests", f"partner={cell.partner_code};status={cell.status}", cell.count
    yield "aid_acknowledged_median_seconds", "", _seconds(aid.acknowledged_median)
    yield "aid_accepted_median_seconds", "", _seconds(aid.accepted_median)
    yield "outbox_undelivered", "", aid.undelivered
    yield "outbox_oldest_age_seconds", "", _seconds(aid.oldest_undelivered_age)
    open_cases = figures.open_cases
    yield "open_cases", "", open_cases.total
    for (priority, band), count in open_cases.counts.items():
        yield "open_cases", f"priority={priority};age={band}", count
    yield "orders_overdue", "", open_cases.orders_overdue
    for org in figures.organisations:
        breakdown = f"organisation={org.code}"
        yield "cases_closed", breakdown, org.closed
        yield "cases_located", breakdown, org.located
        yield "recovery_rate", breakdown, org.share.rate
        yield "time_to_locate_median_seconds", breakdown, _seconds(org.time_to_locate_median)
