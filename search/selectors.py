"""Named reads of cases, spatial ones above all."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from django.contrib.gis.geos import Point
from django.contrib.gis.measure import D
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet

from accounts.models import Organisation, Partner, Role, Unit, User
from accounts.selectors import organisation_tree_ids
from search import permissions
from search.choices import (
    ORDER_AWAITING_ANSWER,
    WAITING_SECTOR_STATUSES,
    AidDirection,
    AidStatus,
    Priority,
    TaskStatus,
)
from search.models import Case, MutualAidRequest, OutboxMessage, Sector, SupervisionOrder, Task
from search.models.cases import CaseQuerySet

# What "looks like the same person" means at intake.
DUPLICATE_RADIUS_M = 5_000
DUPLICATE_WINDOW = timedelta(days=3)
DUPLICATE_NAME_SIMILARITY = 0.6
DUPLICATE_AGE_DIFFERENCE = 5


def cases_visible_to(user: User) -> CaseQuerySet:
    """Return the cases this user may open: their organisation's and those below it."""
    scope = organisation_tree_ids(user.organisation)
    if permissions.can_read_cases(user):
        return Case.objects.in_organisations(scope)
    if permissions.can_work_crisis_desk(user):
        return Case.objects.in_organisations(scope).filter(self_harm_risk=True)
    return Case.objects.none()


def crisis_queue(user: User) -> CaseQuerySet:
    """Return open cases flagged at risk of self-harm, most urgent first, with the last contact."""
    if not permissions.has_any_role(user, {Role.COUNSELLOR}):
        return Case.objects.none()
    return (
        Case.objects.in_organisations(organisation_tree_ids(user.organisation))
        .open()
        .filter(self_harm_risk=True)
        .annotate(last_contact_at=Max("crisis_contacts__attempted_at"))
        .select_related("organisation")
        .newest_critical_first()
    )


def name_similarity(a: str, b: str) -> float:
    """Return 0..1 similarity of two names, ignoring case and spacing (works for CJK too)."""
    a, b = "".join(a.split()).casefold(), "".join(b.split()).casefold()
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b).ratio()


def possible_duplicates(
    *, user: User, subject_name: str, age: int | None, point: Point, last_seen_at: datetime
) -> list[Case]:
    """Return open cases the user can see that look like the same person, most alike first."""
    nearby = (
        cases_visible_to(user)
        .open()
        .filter(
            last_seen_point__dwithin=(point, D(m=DUPLICATE_RADIUS_M)),
            last_seen_at__range=(last_seen_at - DUPLICATE_WINDOW, last_seen_at + DUPLICATE_WINDOW),
        )
        .select_related("organisation")
    )
    found = []
    for case in nearby:
        similarity = name_similarity(subject_name, case.subject_name)
        if similarity < DUPLICATE_NAME_SIMILARITY:
            continue
        other_age = case.age_on(case.last_seen_at.date())
        if (
            age is not None
            and other_age is not None
            and abs(age - other_age) > DUPLICATE_AGE_DIFFERENCE
        ):
            continue
        case.name_similarity = similarity
        found.append(case)
    return sorted(found, key=lambda c: -c.name_similarity)


def point_in_any_jurisdiction(point: Point) -> bool:
    """Return whether any known organisation (partners included) covers the point."""
    return Organisation.objects.filter(jurisdiction__contains=point).exists()


def member_units(user: User) -> "QuerySet[Unit]":
    """Return the units this user belongs to."""
    from accounts.models import Unit

    return Unit.objects.filter(members=user)


def tasks_of_member(user: User) -> "QuerySet[Task]":
    """Return the open tasks of the user's units, offers first, soonest to expire first."""
    from django.db.models import Case as When_
    from django.db.models import IntegerField, Value, When

    from search.models import Task
    from search.models.tasks import OPEN_TASK_STATUSES

    order = When_(
        When(status="offered", then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return (
        Task.objects.filter(unit__members=user, status__in=OPEN_TASK_STATUSES)
        .select_related("case", "sector", "unit")
        .annotate(offer_first=order)
        .order_by("offer_first", "expires_at", "pk")
    )


def task_of_member(user: User, task_id: int) -> "Task | None":
    """Return one task of the user's units (any status), or None: others do not exist for them."""
    from search.models import Task

    return (
        Task.objects.filter(unit__members=user, pk=task_id)
        .select_related("case", "sector", "unit")
        .first()
    )


def aid_requests_visible_to(user: User) -> "QuerySet[MutualAidRequest]":
    """Return the requests a staff member deals with: those of cases in their tree, and partners'
    requests not yet taken that reach their ground (the top desk of the city sees all of those)."""
    scope = organisation_tree_ids(user.organisation)
    untaken = Q(case__isnull=True, direction=AidDirection.INBOUND)
    top_desk = user.organisation is not None and user.organisation.parent_id is None
    if not top_desk:
        on_our_ground = Organisation.objects.filter(
            pk__in=scope, jurisdiction__intersects=OuterRef("area")
        )
        untaken &= Q(Exists(on_our_ground))
    return MutualAidRequest.objects.filter(
        Q(case__organisation_id__in=scope) | untaken
    ).select_related("partner__organisation", "case")


def aid_requests_awaiting_answer(user: User) -> "QuerySet[MutualAidRequest]":
    """Return the partners' requests this desk has not yet accepted or declined."""
    return aid_requests_visible_to(user).filter(
        direction=AidDirection.INBOUND, status__in=[AidStatus.SENT, AidStatus.ACKNOWLEDGED]
    )


def aid_requests_of_partner(partner: Partner) -> "QuerySet[MutualAidRequest]":
    """Return the requests between this partner and us, and nothing else."""
    return MutualAidRequest.objects.filter(partner=partner)


def waiting_sectors() -> "QuerySet[Sector]":
    """Return sectors in the offer queue: in a current area, on our ground, not taken."""
    return Sector.objects.filter(
        in_current_area=True, outside_jurisdiction=False, status__in=WAITING_SECTOR_STATUSES
    )


def orders_visible_to(user: User) -> QuerySet[SupervisionOrder]:
    """Return the supervision orders this user may open: issued by or to a desk in their tree,
    or addressed to them."""
    if not permissions.can_work_orders(user):
        return SupervisionOrder.objects.none()
    scope = organisation_tree_ids(user.organisation)
    return SupervisionOrder.objects.filter(
        Q(addressee_organisation_id__in=scope)
        | Q(issuer_organisation_id__in=scope)
        | Q(escalated_to_id__in=scope)
        | Q(addressee_user=user)
    )


def orders_to_answer(user: User) -> QuerySet[SupervisionOrder]:
    """Return the open orders this user's desk must answer (addressed or escalated to it),
    nearest deadline first."""
    if not permissions.can_work_orders(user):
        return SupervisionOrder.objects.none()
    desk = Q(addressee_organisation_id=user.organisation_id, addressee_user__isnull=True)
    return (
        SupervisionOrder.objects.filter(status__in=ORDER_AWAITING_ANSWER)
        .filter(desk | Q(addressee_user=user) | Q(escalated_to_id=user.organisation_id))
        .select_related("case", "addressee_organisation", "addressee_user", "issued_by")
        .overdue_first()
    )


def orders_issued_by(user: User) -> QuerySet[SupervisionOrder]:
    """Return the open orders this user issued, those past their deadline first."""
    return (
        SupervisionOrder.objects.open()
        .filter(issued_by=user)
        .select_related("case", "addressee_organisation", "addressee_user")
        .overdue_first()
    )


@dataclass(frozen=True)
class OperationsFigures:
    """What an operator watches across the whole installation, at one moment."""

    open_cases_by_priority: dict[Priority, int]
    offers_waiting: int
    outbox_backlog: int
    outbox_oldest_age_seconds: float
    orders_overdue: int


def operations_figures(*, now: datetime) -> OperationsFigures:
    """Return the installation-wide figures for monitoring, in four aggregate queries."""
    by_priority = dict.fromkeys(Priority, 0)
    for row in Case.objects.open().order_by().values("priority").annotate(n=Count("pk")):
        by_priority[Priority(row["priority"])] = row["n"]
    # The same rows the relay still has to send: neither delivered nor refused for good.
    backlog = OutboxMessage.objects.filter(
        delivered_at__isnull=True, failed_at__isnull=True
    ).aggregate(n=Count("pk"), oldest=Min("created_at"))
    oldest = backlog["oldest"]
    return OperationsFigures(
        open_cases_by_priority=by_priority,
        offers_waiting=Task.objects.filter(status=TaskStatus.OFFERED).count(),
        outbox_backlog=backlog["n"],
        outbox_oldest_age_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        orders_overdue=SupervisionOrder.objects.overdue(now).count(),
    )
