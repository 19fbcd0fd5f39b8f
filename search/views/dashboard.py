"""The supervisors' dashboard (/supervision/): the figures of a period for a tree, and its CSV.

The view parses the period and the organisation, computes the figures once (search.figures) and
lays them out: each figure with its definition, each chart (SVG bars drawn here, no script)
beside the table of the same numbers.
"""

import csv
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.models import Organisation
from accounts.selectors import organisations_in_scope
from search import permissions
from search.choices import AidStatus, Outcome, Priority
from search.figures import AGE_BANDS, FIGURES, Figure, Figures, Share, figure_rows, figures_compute
from search.forms import FiguresForm
from search.views.cases import require

NO_VALUE = "–"

# --- Chart geometry: one bar per row, its label above it, its value at its end. ----------------
# Widths are percentages of the chart's own width and text keeps its CSS size, so a chart reads
# the same at 360 px as on a desktop; the longest bar leaves room for its value.
BAR_MAX_PERCENT = 78
ROW_HEIGHT = 40
BAR_HEIGHT = 14
# A table with more columns than this goes under its chart rather than beside it.
WIDE_TABLE_COLUMNS = 5


@dataclass
class Bar:
    label: str
    text: str
    fraction: float  # of the longest possible bar, 0-1
    row: int = 0

    @property
    def label_y(self) -> int:
        return self.row * ROW_HEIGHT + 15

    @property
    def bar_y(self) -> int:
        return self.row * ROW_HEIGHT + 20

    @property
    def _percent(self) -> float:
        # A value above zero stays visible, however small.
        percent = self.fraction * BAR_MAX_PERCENT
        return max(percent, 0.5) if self.fraction > 0 else 0.0

    @property
    def width(self) -> str:
        return f"{self._percent:.1f}%"

    @property
    def text_x(self) -> str:
        return f"{self._percent + 1.5:.1f}%"

    @property
    def text_y(self) -> int:
        return self.bar_y + BAR_HEIGHT - 2


@dataclass
class Chart:
    key: str  # unique on the page, for the SVG's title id
    figure: Figure  # the definition shown under the chart and its table
    title: str
    bars: list[Bar]
    headers: list[str]
    rows: list[list[str]]

    def __post_init__(self) -> None:
        for n, bar in enumerate(self.bars):
            bar.row = n

    @property
    def height(self) -> int:
        return max(len(self.bars), 1) * ROW_HEIGHT + 4

    @property
    def bar_height(self) -> int:
        return BAR_HEIGHT

    @property
    def wide(self) -> bool:
        """Return whether the table needs the page's whole width (then it goes under the chart)."""
        return len(self.headers) > WIDE_TABLE_COLUMNS


@dataclass
class Stat:
    figure: Figure
    value: str
    detail: str = ""


@dataclass
class Section:
    key: str
    title: str
    stats: list[Stat] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


# --- How values read -----------------------------------------------------------------------------


def duration_text(value: timedelta | None) -> str:
    """Return a duration as people read it: seconds, minutes, hours and minutes, days and hours."""
    if value is None:
        return NO_VALUE
    seconds = round(value.total_seconds())
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


def rate_text(rate: float | None) -> str:
    return NO_VALUE if rate is None else f"{rate:.0%}"


def share_detail(share: Share) -> str:
    if not share.total:
        return _("nothing to count in this period")
    return _("%(met)d of %(total)d") % {"met": share.met, "total": share.total}


def _share_stat(key: str, share: Share) -> Stat:
    return Stat(FIGURES[key], rate_text(share.rate), share_detail(share))


def _count_bars(items: list[tuple[str, int]]) -> list[Bar]:
    top = max((n for _label, n in items), default=0)
    return [Bar(label, str(n), n / top if top else 0) for label, n in items]


def _duration_bars(items: list[tuple[str, timedelta | None]]) -> list[Bar]:
    top = max((v.total_seconds() for _label, v in items if v), default=0)
    return [
        Bar(label, duration_text(v), v.total_seconds() / top if v and top else 0)
        for label, v in items
    ]


def _share_bars(items: list[tuple[str, Share]]) -> list[Bar]:
    return [Bar(label, rate_text(share.rate), share.rate or 0) for label, share in items]


# --- The page's sections -------------------------------------------------------------------------


def _recovery(figures: Figures) -> Section:
    recovery = figures.recovery
    outcomes = [
        (
            str(Outcome(o).label)
            + (" " + _("(left out of the rate)") if o == Outcome.WITHDRAWN else ""),
            n,
        )
        for o, n in recovery.by_outcome.items()
    ]
    return Section(
        "recovery",
        _("Recovery"),
        stats=[
            _share_stat("recovery_rate", recovery.share),
            Stat(FIGURES["cases_closed"], str(recovery.closed)),
            Stat(FIGURES["cases_located"], str(recovery.located)),
        ],
        charts=[
            Chart(
                "outcomes",
                FIGURES["cases_by_outcome"],
                _("Cases closed by outcome"),
                _count_bars(outcomes),
                [_("Outcome"), _("Cases")],
                [[label, str(n)] for label, n in outcomes],
            )
        ],
    )


def _time_to_locate(figures: Figures) -> Section:
    spread = figures.time_to_locate
    rows = figures.by_category
    return Section(
        "time-to-locate",
        _("Time to locate"),
        stats=[
            Stat(FIGURES["time_to_locate_median_seconds"], duration_text(spread.median)),
            Stat(FIGURES["time_to_locate_p90_seconds"], duration_text(spread.p90)),
            Stat(FIGURES["time_to_locate_cases"], str(spread.count)),
            _share_stat("located_within_24h", figures.located_within_24h),
        ],
        charts=[
            Chart(
                "ttl-category",
                FIGURES["time_to_locate_median_seconds"],
                _("Median time to locate, by category"),
                _duration_bars([(r.label, r.time_to_locate.median) for r in rows]),
                [
                    _("Category"),
                    _("Located"),
                    _("Median"),
                    _("90th percentile"),
                ],
                [
                    [
                        r.label,
                        str(r.time_to_locate.count),
                        duration_text(r.time_to_locate.median),
                        duration_text(r.time_to_locate.p90),
                    ]
                    for r in rows
                ],
            ),
            Chart(
                "w24-category",
                FIGURES["located_within_24h"],
                _("Located within 24 hours, by category"),
                _share_bars([(r.label, r.within_24h) for r in rows]),
                [_("Category"), _("Located within 24 h"), _("Counted"), _("Share")],
                [
                    [
                        r.label,
                        str(r.within_24h.met),
                        str(r.within_24h.total),
                        rate_text(r.within_24h.rate),
                    ]
                    for r in rows
                ],
            ),
        ],
    )


def _targets(figures: Figures) -> Section:
    targets = [
        ("target_dispatch_3min", figures.dispatch_3min),
        ("target_on_scene_10min", figures.on_scene_10min),
        ("target_feedback_24h", figures.feedback_24h),
    ]
    labelled = [(str(FIGURES[key].label), share) for key, share in targets]
    return Section(
        "targets",
        _("Service targets"),
        stats=[_share_stat(key, share) for key, share in targets],
        charts=[
            Chart(
                "targets",
                FIGURES["target_dispatch_3min"],
                _("Share of each target met"),
                _share_bars(labelled),
                [_("Target"), _("Met"), _("Counted"), _("Share")],
                [[label, str(s.met), str(s.total), rate_text(s.rate)] for label, s in labelled],
            )
        ],
    )


def _field_work(figures: Figures) -> Section:
    tasks = figures.tasks
    counts = [
        ("tasks_offered", tasks.offered),
        ("tasks_accepted", tasks.accepted),
        ("tasks_declined", tasks.declined),
        ("tasks_expired", tasks.expired),
        ("tasks_reassigned", tasks.reassigned),
    ]
    labelled = [(str(FIGURES[key].label), n) for key, n in counts]
    return Section(
        "field-work",
        _("Offers and field work"),
        stats=[
            *(Stat(FIGURES[key], str(n)) for key, n in counts),
            Stat(FIGURES["answer_time_median_seconds"], duration_text(tasks.answer_median)),
            Stat(FIGURES["sectors_searched"], str(tasks.sectors_searched)),
            Stat(FIGURES["coverage_mean"], rate_text(tasks.coverage_mean)),
        ],
        charts=[
            Chart(
                "offers",
                FIGURES["tasks_offered"],
                _("Offers and what became of them"),
                _count_bars(labelled),
                [_("Offers"), _("Number")],
                [[label, str(n)] for label, n in labelled],
            )
        ],
    )


def _mutual_aid(figures: Figures) -> Section:
    aid = figures.aid
    statuses = AidStatus.values
    by_status = aid.by_status()
    partner_rows = [
        [f"{name} ({code})", *(str(counts[s]) for s in statuses), str(total)]
        for code, name, counts, total in aid.by_partner()
    ]
    oldest = aid.oldest_undelivered_age
    return Section(
        "mutual-aid",
        _("Mutual aid"),
        stats=[
            Stat(FIGURES["aid_requests"], str(aid.total)),
            Stat(
                FIGURES["aid_acknowledged_median_seconds"], duration_text(aid.acknowledged_median)
            ),
            Stat(FIGURES["aid_accepted_median_seconds"], duration_text(aid.accepted_median)),
            Stat(FIGURES["outbox_undelivered"], str(aid.undelivered)),
            Stat(FIGURES["outbox_oldest_age_seconds"], duration_text(oldest)),
        ],
        charts=[
            Chart(
                "aid-status",
                FIGURES["aid_requests"],
                _("Requests by status and partner"),
                _count_bars([(str(AidStatus(s).label), by_status[s]) for s in statuses]),
                [_("Partner"), *(str(AidStatus(s).label) for s in statuses), _("Total")],
                partner_rows
                or [[_("No requests in this period."), *("0" for _s in statuses), "0"]],
            )
        ],
    )


def _open_now(figures: Figures) -> Section:
    open_cases = figures.open_cases
    bands = [str(band.label) for band in AGE_BANDS]
    return Section(
        "open-now",
        _("Open now"),
        stats=[
            Stat(FIGURES["open_cases"], str(open_cases.total)),
            Stat(FIGURES["orders_overdue"], str(open_cases.orders_overdue)),
        ],
        charts=[
            Chart(
                "open-age",
                FIGURES["open_cases"],
                _("Open cases by time since filing"),
                _count_bars(list(zip(bands, open_cases.by_band(), strict=True))),
                [_("Priority"), *bands],
                [
                    [str(Priority(p).label), *(str(n) for n in open_cases.by_priority(p))]
                    for p in Priority.values
                ],
            )
        ],
    )


def _organisations(figures: Figures) -> Section:
    rows = figures.organisations
    return Section(
        "organisations",
        _("By organisation"),
        charts=[
            Chart(
                "organisations",
                FIGURES["recovery_rate"],
                _("Recovery rate by organisation"),
                _share_bars([(f"{r.name} ({r.code})", r.share) for r in rows]),
                [_("Organisation"), _("Closed"), _("Located"), _("Rate"), _("Median to locate")],
                [
                    [
                        f"{r.name} ({r.code})",
                        str(r.closed),
                        str(r.located),
                        rate_text(r.share.rate),
                        duration_text(r.time_to_locate_median),
                    ]
                    for r in rows
                ],
            )
        ],
    )


def sections(figures: Figures) -> list[Section]:
    """Return the page's sections in the order a supervisor reads them."""
    return [
        _recovery(figures),
        _time_to_locate(figures),
        _targets(figures),
        _field_work(figures),
        _mutual_aid(figures),
        _open_now(figures),
        _organisations(figures),
    ]


# --- The views -----------------------------------------------------------------------------------


def _subtree_ids(root: Organisation, organisations: list[Organisation]) -> list[int]:
    """Return the ids of root and everything below it, from the scope already in hand."""
    children: dict[int | None, list[int]] = {}
    for organisation in organisations:
        children.setdefault(organisation.parent_id, []).append(organisation.pk)
    ids, frontier = [root.pk], [root.pk]
    while frontier:
        frontier = [child for parent in frontier for child in children.get(parent, [])]
        ids.extend(frontier)
    return ids


@dataclass
class FiguresRequest:
    form: FiguresForm
    organisations: list[Organisation]

    def compute(self) -> tuple[Organisation, Figures]:
        """Return the chosen organisation and the figures of its tree for the chosen period."""
        tz = timezone.get_default_timezone()
        chosen = next(o for o in self.organisations if o.pk == self.form.cleaned_data["org"])
        start, end = self.form.period(tz)
        figures = figures_compute(
            organisation_ids=_subtree_ids(chosen, self.organisations),
            start=start,
            end=end,
            now=timezone.now(),
        )
        return chosen, figures


def _parse(request) -> FiguresRequest:
    """Check who asks and read the form: only the user's own tree can be chosen."""
    user = request.user
    require(permissions.can_see_figures(user))
    if user.organisation is None:
        raise PermissionDenied
    organisations = list(organisations_in_scope(user))
    form = FiguresForm(
        request.GET,
        organisations=organisations,
        default_org=user.organisation,
        today=timezone.localdate(timezone=timezone.get_default_timezone()),
    )
    return FiguresRequest(form, organisations)


@login_required
@require_safe
def dashboard(request):
    """Render the figures of the chosen tree and period, or the form's errors (400)."""
    parsed = _parse(request)
    form = parsed.form
    if not form.is_valid():
        return render(request, "search/dashboard.html", {"form": form}, status=400)
    organisation, figures = parsed.compute()
    query = urlencode(
        {
            "start": form.cleaned_data["start"].isoformat(),
            "end": form.cleaned_data["end"].isoformat(),
            "org": organisation.pk,
        }
    )
    return render(
        request,
        "search/dashboard.html",
        {
            "form": form,
            "figures": figures,
            "organisation": organisation,
            "start_day": form.cleaned_data["start"],
            "end_day": form.cleaned_data["end"],
            "time_zone": str(timezone.get_default_timezone()),
            "sections": sections(figures),
            "csv_query": query,
        },
    )


def _csv_value(value: int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return str(value)


@login_required
@require_safe
def dashboard_csv(request):
    """Return the same figures as the page, one row per value: figure, breakdown, value."""
    parsed = _parse(request)
    form = parsed.form
    if not form.is_valid():
        lines = [
            f"{form.fields[name].label if name in form.fields else name}: {message}"
            for name, messages in form.errors.items()
            for message in messages
        ]
        return HttpResponse(
            "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
        )
    organisation, figures = parsed.compute()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = (
        f"figures-{organisation.code}-{form.cleaned_data['start']:%Y%m%d}-"
        f"{form.cleaned_data['end']:%Y%m%d}.csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(["figure", "breakdown", "value"])
    for key, breakdown, value in figure_rows(figures):
        writer.writerow([key, breakdown, _csv_value(value)])
    return response
