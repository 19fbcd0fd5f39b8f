"""Named reads of cases, spatial ones above all."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from difflib import SequenceMatcher

from django.conf import settings
from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import Area
from django.contrib.gis.geos import Point
from django.contrib.gis.measure import D
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import (
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from accounts.models import Organisation, Partner, Role, Unit, User
from accounts.selectors import organisation_tree_ids
from search import permissions
from search.choices import (
    ORDER_AWAITING_ANSWER,
    WAITING_SECTOR_STATUSES,
    AidDirection,
    AidStatus,
    AlertKind,
    Priority,
    TaskStatus,
)
from search.geo import SRID
from search.models import (
    Alert,
    Case,
    DraftReport,
    MutualAidRequest,
    OutboxMessage,
    PublicAlert,
    PublicAlertMessage,
    Sector,
    Sighting,
    SupervisionOrder,
    Task,
)
from search.models.cases import OPEN_STATUSES, CaseQuerySet

# Shapes a list never draws: loading them with select_related parses a polygon per row (a
# city's jurisdiction for every case line), most of the desk's time on a real history.
TASK_ROW_SHAPES = (
    "sector__boundary",
    "sector__centroid",
    "unit__home_area",
    "unit__last_position",
    "case__last_seen_point",
)
ORDER_ROW_SHAPES = ("case__last_seen_point", "addressee_organisation__jurisdiction")

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
        similarity = _alike(subject_name, age, case)
        if similarity is None:
            continue
        case.name_similarity = similarity
        found.append(case)
    return sorted(found, key=lambda c: -c.name_similarity)


def _alike(subject_name: str, age: int | None, other: Case) -> float | None:
    """Return the name similarity if `other` (already near in place and time) may be the same
    person, or None if the name or the age rules it out."""
    similarity = name_similarity(subject_name, other.subject_name)
    if similarity < DUPLICATE_NAME_SIMILARITY:
        return None
    other_age = other.age_on(other.last_seen_at.date())
    if (
        age is not None
        and other_age is not None
        and abs(age - other_age) > DUPLICATE_AGE_DIFFERENCE
    ):
        return None
    return similarity


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


def _waiting_messages() -> "QuerySet[OutboxMessage]":
    """Return the outgoing messages not yet delivered nor refused (what the relay still sends)."""
    return OutboxMessage.objects.filter(delivered_at__isnull=True, failed_at__isnull=True)


def partner_delivery_states(user: User) -> "QuerySet[Partner]":
    """Return the active partners this desk deals with (a request it can see, or a delivery
    record), with `link` (or none: never contacted), `waiting` (messages still to deliver to
    the partner) and `oldest_waiting_at`; those not answering first.

    The waiting figures are the partner's whole queue, not only this desk's requests: delivery
    stands or falls per partner, and the oldest message is the one the relay probes with.
    """
    visible = aid_requests_visible_to(user).filter(partner=OuterRef("pk"))
    return (
        _partners_with_waiting()
        .filter(Exists(visible) | Q(link__isnull=False))
        .order_by(F("link__reachable").asc(nulls_last=True), "organisation__name", "pk")
    )


def _partners_with_waiting() -> "QuerySet[Partner]":
    """Return the active partners, and retired ones with messages still to deliver (their open
    requests run to their end), with their link, `waiting` and `oldest_waiting_at`."""
    waiting = _waiting_messages().filter(request__partner=OuterRef("pk")).order_by()
    return (
        Partner.objects.filter(Q(is_active=True) | Exists(waiting))
        .select_related("organisation", "link")
        # Neither the shapes nor the credentials are shown: do not even read them.
        .defer(
            "region",
            "outbound_api_key",
            "signing_secret",
            "signing_secret_previous",
            "organisation__jurisdiction",
        )
        .annotate(
            waiting=Coalesce(
                Subquery(waiting.values("request__partner").annotate(n=Count("pk")).values("n")),
                0,
            ),
            oldest_waiting_at=Subquery(waiting.order_by("created_at").values("created_at")[:1]),
        )
    )


def case_aid_requests(case: Case) -> "QuerySet[MutualAidRequest]":
    """Return the case's requests, newest first, with the partner and its `link`, `waiting`
    (the request's messages still to deliver) and `area_km2` (the area asked for, on the
    spheroid)."""
    waiting = _waiting_messages().filter(request=OuterRef("pk")).order_by()
    return (
        case.aid_requests.select_related("partner__organisation", "partner__link")
        .defer(
            "area",  # measured in the query, never drawn here
            "partner__region",
            "partner__outbound_api_key",
            "partner__signing_secret",
            "partner__signing_secret_previous",
            "partner__organisation__jurisdiction",
        )
        .annotate(
            waiting=Coalesce(
                Subquery(waiting.values("request").annotate(n=Count("pk")).values("n")), 0
            ),
            # geography: square metres, not square degrees of SRID 4326.
            area_km2=ExpressionWrapper(
                Area(Cast("area", MultiPolygonField(srid=SRID, geography=True))) / 1e6,
                output_field=FloatField(),
            ),
        )
        .order_by("-created_at", "-pk")
    )


def waiting_sector_q(prefix: str = "") -> Q:
    """Return the rule of a sector in the offer queue (in a current area, on our ground, not
    taken), for a sector reached through `prefix` (e.g. "sector__" from a task)."""
    return Q(
        **{
            f"{prefix}in_current_area": True,
            f"{prefix}outside_jurisdiction": False,
            f"{prefix}status__in": WAITING_SECTOR_STATUSES,
        }
    )


def current_sectors(case: Case) -> "QuerySet[Sector]":
    """Return the sectors of the case's current area, each with its current probability: its
    prior lowered by Bayes after the searches so far, weight x (1 - coverage), normalised over
    the area (search/services/policy.py)."""
    remaining = ExpressionWrapper(
        F("weight") * (Value(1.0) - F("coverage")), output_field=FloatField()
    )
    return case.sectors.filter(in_current_area=True).annotate(
        probability=ExpressionWrapper(
            remaining / NullIf(Window(Sum(remaining)), Value(0.0)), output_field=FloatField()
        )
    )


def waiting_sectors() -> "QuerySet[Sector]":
    """Return sectors in the offer queue: in a current area, on our ground, not taken."""
    return Sector.objects.filter(waiting_sector_q())


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
        .defer(*ORDER_ROW_SHAPES)
        .overdue_first()
    )


def orders_issued_by(user: User) -> QuerySet[SupervisionOrder]:
    """Return the open orders this user issued, those past their deadline first."""
    return (
        SupervisionOrder.objects.open()
        .filter(issued_by=user)
        .select_related("case", "addressee_organisation", "addressee_user")
        .defer(*ORDER_ROW_SHAPES)
        .overdue_first()
    )


@dataclass(frozen=True)
class PartnerFigures:
    """How delivery to one partner stands, for monitoring."""

    code: str
    reachable: bool | None  # None: never sent anything yet
    unreachable_seconds: float  # 0 while it answers
    waiting: int
    oldest_age_seconds: float  # 0 when nothing waits


@dataclass(frozen=True)
class OperationsFigures:
    """What an operator watches across the whole installation, at one moment."""

    open_cases_by_priority: dict[Priority, int]
    offers_waiting: int
    outbox_backlog: int
    outbox_oldest_age_seconds: float
    orders_overdue: int
    partners: list[PartnerFigures]


def _age(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then else 0.0


def partner_figures(*, now: datetime) -> list[PartnerFigures]:
    """Return each partner's link and backlog (those `_partners_with_waiting` names), in one
    query, by organisation code."""
    figures = []
    for partner in _partners_with_waiting().order_by("organisation__code"):
        link = getattr(partner, "link", None)
        figures.append(
            PartnerFigures(
                code=partner.organisation.code,
                reachable=None if link is None else link.reachable,
                unreachable_seconds=_age(now, link.since) if link and not link.reachable else 0.0,
                waiting=getattr(partner, "waiting", 0),
                oldest_age_seconds=_age(now, getattr(partner, "oldest_waiting_at", None)),
            )
        )
    return figures


def operations_figures(*, now: datetime) -> OperationsFigures:
    """Return the installation-wide figures for monitoring, in five queries."""
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
        outbox_oldest_age_seconds=_age(now, oldest),
        orders_overdue=SupervisionOrder.objects.overdue(now).count(),
        partners=partner_figures(now=now),
    )


# --- The home page: what each role must act on now -----------------------------------------------

# An offer this close to its deadline is about to expire: the coordinator may still chase it.
OFFER_EXPIRY_WARNING = timedelta(seconds=60)
# Recent cases looked at for duplicates on the clerk's desk, at most: a bound on the query, well
# above what one desk files in the duplicate window.
DUPLICATE_REVIEW_LIMIT = 200


def _desk_cases(user: User) -> CaseQuerySet:
    """Return the open cases of a coordinator's tree (nothing for anyone else)."""
    if not permissions.has_any_role(user, {Role.COORDINATOR}):
        return Case.objects.none()
    return cases_visible_to(user).open()


def _desk_case_ids(user: User) -> list[int]:
    """Return the ids of the coordinator's open cases: the desk's task sections start from them,
    since the tasks of all time are many (the planner then uses the task index by case)."""
    return list(_desk_cases(user).values_list("pk", flat=True))


def desk_open_cases(user: User) -> CaseQuerySet:
    """Return the coordinator's open cases, most urgent priority first, oldest first within it."""
    return (
        _desk_cases(user)
        .select_related("organisation")
        .defer("organisation__jurisdiction")
        .order_by("priority", "created_at", "pk")
    )


def desk_alerts(user: User) -> QuerySet[Alert]:
    """Return the unacknowledged alerts on the coordinator's open cases, newest first."""
    return (
        Alert.objects.filter(acknowledged_at__isnull=True, case__in=_desk_cases(user))
        .select_related("case")
        .order_by("-created_at", "-pk")
    )


def offers_running_out(user: User, *, now: datetime) -> QuerySet[Task]:
    """Return offers about to expire, and expired offers whose sector no one has taken since,
    on the coordinator's open cases: the longest past (or nearest) deadline first."""
    # Only the sector's latest offer speaks for it: an earlier expiry was followed by another try.
    later_offer = Task.objects.filter(sector_id=OuterRef("sector_id"), rank__gt=OuterRef("rank"))
    expiring = Q(status=TaskStatus.OFFERED, expires_at__lte=now + OFFER_EXPIRY_WARNING)
    # A paused search waits on purpose: its expired offers are not the coordinator's to chase.
    # The sector's rule is waiting_sectors()'s, as a join: a subquery over every sector of all
    # time was read whole.
    untaken = (
        Q(status=TaskStatus.EXPIRED, case__search_paused=False)
        & waiting_sector_q("sector__")
        & ~Exists(later_offer)
    )
    # Two steps: the desk's open cases are few and the tasks of all time many, so the planner is
    # given the cases' ids, then the matching tasks' ids; joined all at once it misjudged the
    # rows and read every case and unit (seconds on the scale bench's history).
    task_ids = list(
        Task.objects.filter(
            case_id__in=_desk_case_ids(user), status__in=(TaskStatus.OFFERED, TaskStatus.EXPIRED)
        )
        .filter(expiring | untaken)
        .values_list("pk", flat=True)
    )
    return (
        Task.objects.filter(pk__in=task_ids)
        .select_related("case", "sector", "unit")
        .defer(*TASK_ROW_SHAPES)
        .order_by("expires_at", "pk")
    )


def tasks_gone_silent(user: User, *, now: datetime) -> QuerySet[Task]:
    """Return accepted or in-progress tasks with no activity for longer than the stale limit,
    on the coordinator's open cases, the longest silent first."""
    limit = now - timedelta(seconds=settings.DISPATCH["STALE_TASK_SECONDS"])
    return (
        Task.objects.filter(
            case_id__in=_desk_case_ids(user),
            status__in=(TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS),
            last_activity_at__lt=limit,
        )
        .select_related("case", "sector", "unit")
        .defer(*TASK_ROW_SHAPES)
        .order_by("last_activity_at", "pk")
    )


def cases_with_unreachable_sectors(user: User) -> CaseQuerySet:
    """Return the coordinator's open cases whose waiting sectors no unit can take, with how many
    wait (`sectors_waiting`) and since when (`flagged_at`), most urgent first.

    "No unit can take them" is the dispatcher's verdict, its open NO_UNITS alert: the offer
    matching is the one place that knows it, and the dispatch sweep raises the alert again while
    it stays true.
    """
    no_units = Alert.objects.filter(
        case=OuterRef("pk"), kind=AlertKind.NO_UNITS, acknowledged_at__isnull=True
    )
    waiting = (
        waiting_sectors()
        .filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        _desk_cases(user)
        .filter(search_paused=False)
        .filter(Exists(no_units))
        .annotate(
            sectors_waiting=Subquery(waiting),
            flagged_at=Subquery(no_units.order_by("created_at").values("created_at")[:1]),
        )
        .filter(sectors_waiting__gt=0)
        .order_by("priority", "flagged_at", "pk")
    )


def desk_aid_requests(user: User) -> QuerySet[MutualAidRequest]:
    """Return the partners' requests waiting for the coordinator's answer, the oldest first."""
    if not permissions.has_any_role(user, {Role.COORDINATOR}):
        return MutualAidRequest.objects.none()
    return aid_requests_awaiting_answer(user).order_by("created_at", "pk")


@dataclass(frozen=True)
class OpenNow:
    """What is open right now under a supervisor: cases by priority, overdue orders."""

    cases_by_priority: list[tuple[Priority, int]]
    overdue_orders: int

    @property
    def open_cases(self) -> int:
        return sum(n for _, n in self.cases_by_priority)


def open_now(user: User, *, now: datetime) -> OpenNow:
    """Return the open cases by priority and the overdue orders on the cases of the supervisor's
    tree, in one aggregate query."""
    if not permissions.has_any_role(user, {Role.SUPERVISOR}):
        return OpenNow([(p, 0) for p in Priority], 0)
    is_open = Q(status__in=OPEN_STATUSES)
    overdue = Q(
        supervision_orders__status__in=ORDER_AWAITING_ANSWER,
        supervision_orders__deadline__lt=now,
    )
    # Every order is on a case, and orders stay within the tree of their case: counting them
    # through the cases of the tree is counting the tree's orders.
    counts = (
        Case.objects.in_organisations(organisation_tree_ids(user.organisation))
        .filter(is_open | overdue)
        .aggregate(
            overdue_orders=Count("supervision_orders", filter=overdue, distinct=True),
            **{
                f"p{p.value}": Count("pk", filter=is_open & Q(priority=p), distinct=True)
                for p in Priority
            },
        )
    )
    return OpenNow(
        cases_by_priority=[(p, counts[f"p{p.value}"]) for p in Priority],
        overdue_orders=counts["overdue_orders"],
    )


def reports_filed_today(user: User, *, now: datetime) -> CaseQuerySet:
    """Return the reports filed in the clerk's tree since local midnight, newest first."""
    if not permissions.has_any_role(user, {Role.CLERK}):
        return Case.objects.none()
    # The centre's day (settings.TIME_ZONE, Asia/Shanghai), not the server's or the browser's.
    local = timezone.localtime(now, timezone.get_default_timezone())
    midnight = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    return (
        cases_visible_to(user)
        .filter(created_at__gte=midnight)
        .select_related("organisation")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class DuplicateReview:
    """A recently filed open case and the open cases that may be the same person."""

    case: Case
    others: list[tuple[Case, float]]  # with the name similarity, most alike first


def recent_cases_with_duplicates(user: User, *, now: datetime) -> list[DuplicateReview]:
    """Return the open cases filed in the duplicate window that may be someone already
    reported, each pair once (under its newer case), newest critical first.

    The same rules as `possible_duplicates`: near in place and time in SQL (one query for all
    cases), then the name and age test; a pair already linked is reviewed and left out.
    """
    if not permissions.has_any_role(user, {Role.CLERK}):
        return []
    visible_open = cases_visible_to(user).open()
    linked = Case.linked_cases.through.objects.filter(
        from_case_id=OuterRef(OuterRef("pk")), to_case_id=OuterRef("pk")
    )
    near = (
        visible_open.exclude(pk=OuterRef("pk"))
        .filter(
            last_seen_point__dwithin=(OuterRef("last_seen_point"), D(m=DUPLICATE_RADIUS_M)),
            last_seen_at__gte=OuterRef("last_seen_at") - DUPLICATE_WINDOW,
            last_seen_at__lte=OuterRef("last_seen_at") + DUPLICATE_WINDOW,
        )
        .exclude(Exists(linked))
    )
    since = now - DUPLICATE_WINDOW
    recent = list(
        visible_open.filter(created_at__gte=since)
        .filter(Exists(near))
        .annotate(near_ids=ArraySubquery(near.order_by("pk").values("pk")))
        .select_related("organisation")
        .order_by("priority", "-created_at", "-pk")[:DUPLICATE_REVIEW_LIMIT]
    )
    others = Case.objects.select_related("organisation").in_bulk(
        {pk for case in recent for pk in case.near_ids}
    )
    reviews = []
    for case in recent:
        age = case.age_on(case.last_seen_at.date())
        alike = []
        for pk in case.near_ids:
            other = others[pk]
            if other.created_at >= since and (other.created_at, other.pk) > (
                case.created_at,
                case.pk,
            ):
                continue  # listed under the newer case
            similarity = _alike(case.subject_name, age, other)
            if similarity is not None:
                alike.append((other, similarity))
        if alike:
            alike.sort(key=lambda pair: -pair[1])
            reviews.append(DuplicateReview(case, alike))
    return reviews


def crisis_queue_longest_waiting(user: User) -> CaseQuerySet:
    """Return the crisis queue with the longest time since the last contact attempt (or since
    filing, if none yet) first; `waiting_since` is that moment."""
    return (
        crisis_queue(user)
        .annotate(waiting_since=Coalesce("last_contact_at", "created_at"))
        .order_by("waiting_since", "pk")
    )


def public_content_of(case: Case) -> dict:
    """Return what the public may know of the case: the content of its active public alert,
    else of its most recent one, else {}. "photo" is True in it when a photo was cleared."""
    alerts = PublicAlert.objects.filter(case=case).only("content", "clearance")
    alert = alerts.active().first() or alerts.order_by("-published_at", "-pk").first()
    if alert is None:
        return {}
    content = dict(alert.content or {})
    if "photo" in (alert.clearance or []):
        content["photo"] = True
    return content


def drafts_visible_to(user: User) -> "QuerySet[DraftReport]":
    """Return the drafts of the user's organisation tree, if the user may file reports."""
    if not permissions.can_file_cases(user):
        return DraftReport.objects.none()
    return DraftReport.objects.filter(organisation_id__in=organisation_tree_ids(user.organisation))


def case_public_alerts(case: Case) -> QuerySet[PublicAlert]:
    """Return the case's public alerts, newest first, with `message_count`, `tip_count` and
    their messages newest first (`latest` is the first of them)."""
    return (
        PublicAlert.objects.filter(case=case)
        .annotate(
            message_count=Count("messages", distinct=True),
            tip_count=Count("tips", distinct=True),
        )
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=PublicAlertMessage.objects.order_by("-number").defer("area"),
            )
        )
        .order_by("-published_at")
    )


def tips_to_triage(case: Case) -> QuerySet[Sighting]:
    """Return the case's public tips that no coordinator has confirmed yet, newest first (a
    tip that just came in is at the top of the list)."""
    return case.sightings.filter(public_alert__isnull=False, confirmed_at__isnull=True).order_by(
        "-created_at", "-pk"
    )
