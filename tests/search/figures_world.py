"""A small city with cases, tasks, contacts, aid requests and orders at known times.

The figures tests work out every number from these rows by hand; change a row and those sums
change with it. Times are Asia/Shanghai (UTC+8). The period is 1-10 November 2026, that is
[2026-11-01 00:00, 2026-11-11 00:00), and "now" is 2026-11-20 12:00, after its end.

    city FC (root) ── county FCA
                   └─ county FCB           outsider city FX, whose rows must never count
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.gis.geos import MultiPolygon

from accounts.models import Organisation, Partner, Unit, User
from search.geo import SRID
from search.models import (
    Case,
    CrisisContact,
    MutualAidRequest,
    OutboxMessage,
    SearchArea,
    Sector,
    SupervisionOrder,
    Task,
)
from tests.factories import (
    CaseFactory,
    OrganisationFactory,
    SearchAreaFactory,
    SectorFactory,
    TaskFactory,
    UnitFactory,
    UserFactory,
    square,
)

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=SH)
END = datetime(2026, 11, 11, tzinfo=SH)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=SH)


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SH)


def make_case(
    organisation: Organisation,
    *,
    created: datetime,
    category: str = "adult",
    priority: int = 3,
    status: str = "closed",
    outcome: str = "",
    located: datetime | None = None,
    closed: datetime | None = None,
) -> Case:
    """Return a case with these times (created_at is set after the insert: auto_now_add)."""
    case = CaseFactory(
        organisation=organisation,
        category=category,
        priority=priority,
        status=status,
        outcome=outcome,
    )
    Case.objects.filter(pk=case.pk).update(created_at=created, located_at=located, closed_at=closed)
    case.refresh_from_db()
    return case


def sector_of(case: Case) -> Sector:
    area = SearchArea.objects.filter(case=case).first() or SearchAreaFactory(case=case)
    return SectorFactory(area=area)


def make_task(
    case: Case,
    sector: Sector,
    unit: Unit,
    *,
    offered: datetime,
    status: str,
    rank: int = 1,
    answered: datetime | None = None,
    started: datetime | None = None,
    finished: datetime | None = None,
    coverage: float | None = None,
) -> Task:
    return TaskFactory(
        case=case,
        sector=sector,
        unit=unit,
        status=status,
        rank=rank,
        offered_at=offered,
        expires_at=offered + timedelta(minutes=3),
        answered_at=answered,
        started_at=started,
        finished_at=finished,
        last_activity_at=finished or started or answered or offered,
        coverage=coverage,
    )


def make_partner(code: str) -> Partner:
    org = OrganisationFactory(
        code=code,
        name=f"Partner {code}",
        jurisdiction=MultiPolygon(square(118, 35, 0.1), srid=SRID),
    )
    return Partner.objects.create(
        organisation=org, base_url="http://127.0.0.1:9/api/v1/", region=org.jurisdiction
    )


def make_request(
    partner: Partner,
    *,
    case: Case | None,
    direction: str,
    status: str,
    created: datetime,
    acknowledged: datetime | None = None,
    accepted: datetime | None = None,
) -> MutualAidRequest:
    request = MutualAidRequest.objects.create(
        partner=partner,
        case=case,
        direction=direction,
        status=status,
        reason="border",
        status_changed_at=created,
        acknowledged_at=acknowledged,
        accepted_at=accepted,
    )
    MutualAidRequest.objects.filter(pk=request.pk).update(created_at=created)
    return request


def make_message(
    request: MutualAidRequest,
    seq: int,
    *,
    created: datetime,
    delivered: datetime | None = None,
    failed: datetime | None = None,
) -> OutboxMessage:
    message = OutboxMessage.objects.create(
        request=request,
        seq=seq,
        type="request" if seq == 1 else "note",
        body={},
        next_attempt_at=created,
        delivered_at=delivered,
        failed_at=failed,
    )
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=created)
    return message


def make_order(
    case: Case,
    addressee: Organisation,
    issuer: User,
    *,
    status: str,
    deadline: datetime,
) -> SupervisionOrder:
    return SupervisionOrder.objects.create(
        case=case,
        issued_by=issuer,
        issuer_organisation=issuer.organisation,
        addressee_organisation=addressee,
        instruction="report back",
        deadline=deadline,
        status=status,
        created_at=deadline - timedelta(hours=4),
        answered_at=deadline if status == "answered" else None,
    )


@dataclass
class World:
    city: Organisation
    county_a: Organisation
    county_b: Organisation
    outsider: Organisation
    cases: dict[str, Case] = field(default_factory=dict)

    @property
    def tree(self) -> list[int]:
        return [self.city.pk, self.county_a.pk, self.county_b.pk]


def build() -> World:
    """Build the city of the module docstring; the comments give what each row is there for."""
    city = OrganisationFactory(code="FC", name="Figure City")
    county_a = OrganisationFactory(code="FCA", name="County A", level="county", parent=city)
    county_b = OrganisationFactory(code="FCB", name="County B", level="county", parent=city)
    outsider = OrganisationFactory(code="FX", name="Other City")
    world = World(city, county_a, county_b, outsider)
    c = world.cases

    # Closed in the period (A-E). Time to locate: A 2 h, B 30 h, C 1 h, E 48 h.
    c["A"] = make_case(
        county_a, created=at(11, 2, 10), located=at(11, 2, 12), closed=at(11, 2, 13),
        outcome="found_well",
    )  # fmt: skip
    c["B"] = make_case(
        county_a, category="dementia", created=at(11, 3, 8), located=at(11, 4, 14),
        closed=at(11, 4, 15), outcome="found_injured",
    )  # fmt: skip
    # Closed exactly 24 h after filing.
    c["C"] = make_case(
        county_b, category="dementia", created=at(11, 5, 9), located=at(11, 5, 10),
        closed=at(11, 6, 9), outcome="returned",
    )  # fmt: skip
    c["D"] = make_case(county_b, created=at(11, 6, 20), closed=at(11, 7, 10), outcome="withdrawn")
    # Filed before the period, located and closed in it.
    c["E"] = make_case(
        city, category="child", created=at(10, 30, 12), located=at(11, 1, 12),
        closed=at(11, 1, 13), outcome="found_deceased",
    )  # fmt: skip
    # Filed in the period, still open now.
    c["H"] = make_case(county_b, status="open", created=at(11, 9, 20))
    # Filed in the period but less than 24 hours before its end.
    c["I"] = make_case(county_a, status="open", priority=2, created=at(11, 10, 12))
    # Filed late in the period, located and closed after it.
    c["L"] = make_case(
        county_a, created=at(11, 10, 20), located=at(11, 11, 2), closed=at(11, 12, 10),
        outcome="found_well",
    )  # fmt: skip
    # Filed after the period, open now, in the age bands the open-now grid must fill; J2 is
    # exactly 6 h old, the lower edge of "6-24 h".
    c["G"] = make_case(
        county_a, status="active", priority=1, category="young_child",
        created=NOW - timedelta(minutes=30),
    )  # fmt: skip
    c["J"] = make_case(county_b, status="open", priority=2, created=NOW - timedelta(hours=2))
    c["J2"] = make_case(county_a, status="open", created=NOW - timedelta(hours=6))
    c["K"] = make_case(city, status="open", created=NOW - timedelta(days=2))
    # Found but not yet closed: not open, and located after the period.
    c["M"] = make_case(
        county_b, status="found", priority=1, created=NOW - timedelta(hours=3),
        located=NOW - timedelta(hours=1),
    )  # fmt: skip
    # The outsider's case, closed and located in the period.
    c["X"] = make_case(
        outsider, created=at(11, 2, 9), located=at(11, 2, 10), closed=at(11, 2, 11),
        outcome="found_well",
    )  # fmt: skip

    units = [UnitFactory(organisation=county_a) for _ in range(3)]
    sa1, sb1, sc1, se1, si1 = (sector_of(c[k]) for k in "ABCEI")
    # T1: A's first offer 2 min after filing; answered in 1 min, started 6 min after the offer.
    make_task(c["A"], sa1, units[0], offered=at(11, 2, 10, 2), answered=at(11, 2, 10, 3),
              started=at(11, 2, 10, 8), finished=at(11, 2, 11), coverage=0.8,
              status="done")  # fmt: skip
    # T2: B's first offer 5 min after filing, declined after 2 min.
    make_task(c["B"], sb1, units[0], offered=at(11, 3, 8, 5), answered=at(11, 3, 8, 7),
              status="declined")  # fmt: skip
    # T3: the same sector to the next unit; answered in 3 min, started 18 min after the offer.
    make_task(c["B"], sb1, units[1], rank=2, offered=at(11, 3, 8, 7), answered=at(11, 3, 8, 10),
              started=at(11, 3, 8, 25), finished=at(11, 3, 12), coverage=0.6,
              status="done")  # fmt: skip
    # T4: C's first offer exactly 3 min after filing; ran out after 3 min.
    make_task(c["C"], sc1, units[0], offered=at(11, 5, 9, 3), answered=at(11, 5, 9, 6),
              status="expired")  # fmt: skip
    # T5: re-offered, answered in 1 min, started 6 min after the offer.
    make_task(c["C"], sc1, units[1], rank=2, offered=at(11, 5, 9, 6), answered=at(11, 5, 9, 7),
              started=at(11, 5, 9, 12), finished=at(11, 5, 10, 30), coverage=1.0,
              status="done")  # fmt: skip
    # T6: I's first offer 1 min after filing, accepted in 4 min, not started.
    make_task(c["I"], si1, units[0], offered=at(11, 10, 12, 1), answered=at(11, 10, 12, 5),
              status="accepted")  # fmt: skip
    # T7: offered before the period, finished in it.
    make_task(c["E"], se1, units[0], offered=at(10, 30, 12, 10), answered=at(10, 30, 12, 11),
              started=at(10, 30, 12, 20), finished=at(11, 1, 9), coverage=0.5,
              status="done")  # fmt: skip
    # T9: A's sector searched again by another unit; answered in 1 min, started after 5 min.
    make_task(c["A"], sa1, units[2], rank=2, offered=at(11, 2, 11, 5), answered=at(11, 2, 11, 6),
              started=at(11, 2, 11, 10), finished=at(11, 2, 12), coverage=0.9,
              status="done")  # fmt: skip
    # The outsider's task: offered, answered and finished in the period.
    x_unit = UnitFactory(organisation=outsider)
    make_task(c["X"], sector_of(c["X"]), x_unit, offered=at(11, 2, 9, 1),
              answered=at(11, 2, 9, 2), started=at(11, 2, 9, 3), finished=at(11, 2, 9, 50),
              coverage=0.1, status="done")  # fmt: skip

    counsellor = UserFactory(organisation=city, roles=["counsellor"])
    for case, when in [
        (c["B"], at(11, 3, 20)),  # 12 h after B was filed
        (c["H"], at(11, 10, 22)),  # 26 h after H was filed: too late
        (c["X"], at(11, 2, 9, 30)),
    ]:
        CrisisContact.objects.create(
            case=case, counsellor=counsellor, attempted_at=when, channel="phone", result="no_answer"
        )

    pa, pb = make_partner("PA"), make_partner("PB")
    r1 = make_request(pa, case=c["A"], direction="outbound", status="active",
                      created=at(11, 2, 10, 30), acknowledged=at(11, 2, 10, 31),
                      accepted=at(11, 2, 10, 40))  # fmt: skip
    r2 = make_request(pa, case=c["B"], direction="outbound", status="declined",
                      created=at(11, 3, 9), acknowledged=at(11, 3, 9, 5))  # fmt: skip
    # A partner's request that no desk has taken on: no case of ours.
    r3 = make_request(pb, case=None, direction="inbound", status="acknowledged",
                      created=at(11, 4, 12), acknowledged=at(11, 4, 12))  # fmt: skip
    make_request(pb, case=c["C"], direction="inbound", status="completed",
                 created=at(11, 5, 9, 30), acknowledged=at(11, 5, 9, 30),
                 accepted=at(11, 5, 9, 50))  # fmt: skip
    # After the period.
    r5 = make_request(pa, case=c["H"], direction="outbound", status="sent", created=at(11, 12, 8))
    r6 = make_request(pa, case=c["X"], direction="outbound", status="active",
                      created=at(11, 2, 9, 30), acknowledged=at(11, 2, 9, 31))  # fmt: skip
    r7 = make_request(pb, case=c["I"], direction="outbound", status="sent",
                      created=at(11, 10, 13))  # fmt: skip
    make_message(r1, 1, created=at(11, 2, 10, 30), delivered=at(11, 2, 10, 31))
    make_message(r7, 1, created=at(11, 10, 13))
    make_message(r5, 1, created=at(11, 12, 8))
    make_message(r2, 1, created=at(11, 3, 9), failed=at(11, 3, 9, 1))
    make_message(r6, 1, created=at(11, 1, 0, 5))
    make_message(r3, 1, created=at(11, 4, 12, 1))

    supervisor = UserFactory(organisation=city, roles=["supervisor"])
    make_order(c["A"], county_a, supervisor, status="issued", deadline=NOW - timedelta(hours=1))
    make_order(c["K"], city, supervisor, status="reopened", deadline=NOW - timedelta(days=1))
    make_order(c["C"], county_b, supervisor, status="answered", deadline=NOW - timedelta(hours=1))
    make_order(c["G"], county_a, supervisor, status="issued", deadline=NOW + timedelta(hours=1))
    make_order(c["X"], outsider, UserFactory(organisation=outsider), status="issued",
               deadline=NOW - timedelta(hours=1))  # fmt: skip
    return world
