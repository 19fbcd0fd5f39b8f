"""The landing page after sign-in: each role's desk, what to act on now, most urgent first.

Every section is one query (or a fixed few) whatever the number of cases, and every line links
to the page where that thing is acted on. A field member with no other role works from /field/.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.models import Role, User
from accounts.selectors import organisation_tree_ids
from search import selectors
from search.choices import TaskStatus
from search.figures import FIGURES, figures_compute
from search.forms import FIGURES_DEFAULT_DAYS
from search.views.dashboard import duration_text, rate_text, share_detail

# Lines shown per section; the full lists are one click away (case list, orders, aid board).
HOME_ROWS = 20


@dataclass(frozen=True)
class Shown:
    """The first lines of a section, and whether there are more than shown."""

    rows: list[Any]
    more: bool


def _shown(rows) -> Shown:
    first = list(rows[: HOME_ROWS + 1])
    return Shown(first[:HOME_ROWS], len(first) > HOME_ROWS)


def _coordinator_desk(user: User, now: datetime) -> dict[str, Shown]:
    offers = _shown(selectors.offers_running_out(user, now=now))
    for task in offers.rows:
        # Seconds, not minutes: the offers shown here have less than a minute left.
        task.seconds_left = int((task.expires_at - now).total_seconds())
        task.untaken = task.status == TaskStatus.EXPIRED
    return {
        "offers": offers,
        "alerts": _shown(selectors.desk_alerts(user)),
        "orders": _shown(selectors.orders_to_answer(user)),
        "aid": _shown(selectors.desk_aid_requests(user)),
        "silent": _shown(selectors.tasks_gone_silent(user, now=now)),
        "unreachable": _shown(selectors.cases_with_unreachable_sectors(user)),
        "cases": _shown(selectors.desk_open_cases(user)),
    }


def _supervisor_desk(user: User, now: datetime) -> dict[str, Any]:
    # The headline figures of the dashboard's default period (the last 30 local days); the
    # dashboard has the rest, by organisation, category and period.
    today = timezone.localdate(now, timezone=timezone.get_default_timezone())
    # As the dashboard's form reads its default period: local midnight to local midnight.
    tz = timezone.get_default_timezone()
    first = today - timedelta(days=FIGURES_DEFAULT_DAYS - 1)
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz)
    figures = figures_compute(
        organisation_ids=organisation_tree_ids(user.organisation), start=start, end=end, now=now
    )

    def share(key: str, value) -> tuple:
        return (FIGURES[key], rate_text(value.rate), share_detail(value))

    ttl = FIGURES["time_to_locate_median_seconds"]
    headline = [
        share("recovery_rate", figures.recovery.share),
        (ttl, duration_text(figures.time_to_locate.median), ""),
        share("located_within_24h", figures.located_within_24h),
        share("target_dispatch_3min", figures.dispatch_3min),
        share("target_on_scene_10min", figures.on_scene_10min),
        share("target_feedback_24h", figures.feedback_24h),
    ]
    return {
        "open_now": selectors.open_now(user, now=now),
        "issued": _shown(selectors.orders_issued_by(user)),
        "headline": headline,
        "days": FIGURES_DEFAULT_DAYS,
    }


def _clerk_desk(user: User, now: datetime) -> dict[str, Shown]:
    # There is no draft report to come back to: a report is filed at once, or not at all.
    return {
        "today": _shown(selectors.reports_filed_today(user, now=now)),
        "duplicates": _shown(selectors.recent_cases_with_duplicates(user, now=now)),
    }


def _counsellor_desk(user: User) -> dict[str, Shown]:
    return {"queue": _shown(selectors.crisis_queue_longest_waiting(user))}


@login_required
@require_safe
def home(request):
    """Render the desk of each of the user's roles; send a field-only member to the field app."""
    user = request.user
    roles = user.role_names if user.is_active else set()
    if roles == {Role.FIELD}:
        return redirect("field_home")
    now = timezone.now()
    context: dict[str, Any] = {
        "roles": [label for value, label in Role.choices if value in roles],
        "now": now,
        "field_tasks": selectors.tasks_of_member(user).count() if Role.FIELD in roles else None,
    }
    if Role.COORDINATOR in roles:
        context["coordinator"] = _coordinator_desk(user, now)
    if Role.SUPERVISOR in roles:
        context["supervisor"] = _supervisor_desk(user, now)
    if Role.CLERK in roles:
        context["clerk"] = _clerk_desk(user, now)
    if Role.COUNSELLOR in roles:
        context["counsellor"] = _counsellor_desk(user)
    return render(request, "search/home.html", context)
